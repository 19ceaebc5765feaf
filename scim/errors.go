package scim

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	scimerr "github.com/elimity-com/scim/errors"

	"latchkey/internal/problem"
)

// Errors are the library's ScimError, so that its handlers and ours write the same
// body: {"schemas": [Error], "scimType", "detail", "status"}.

func invalidValue(attr, format string, args ...any) error {
	return scimerr.ScimError{ScimType: scimerr.ScimTypeInvalidValue, Status: http.StatusBadRequest, Detail: detail(attr, format, args...)}
}

func invalidSyntax(format string, args ...any) error {
	return scimerr.ScimError{ScimType: scimerr.ScimTypeInvalidSyntax, Status: http.StatusBadRequest, Detail: fmt.Sprintf(format, args...)}
}

func invalidPath(format string, args ...any) error {
	return scimerr.ScimError{ScimType: scimerr.ScimTypeInvalidPath, Status: http.StatusBadRequest, Detail: fmt.Sprintf(format, args...)}
}

func invalidFilter(format string, args ...any) error {
	return scimerr.ScimError{ScimType: scimerr.ScimTypeInvalidFilter, Status: http.StatusBadRequest, Detail: fmt.Sprintf(format, args...)}
}

func noTarget(format string, args ...any) error {
	return scimerr.ScimError{ScimType: scimerr.ScimTypeNoTarget, Status: http.StatusBadRequest, Detail: fmt.Sprintf(format, args...)}
}

func mutability(attr string) error {
	return scimerr.ScimError{ScimType: scimerr.ScimTypeMutability, Status: http.StatusBadRequest, Detail: attr + " is read-only"}
}

func notFound(k *kind, id string) error {
	return scimerr.ScimError{Status: http.StatusNotFound, Detail: fmt.Sprintf("%s %s not found", k.name, id)}
}

func unauthorized(detail string) scimerr.ScimError {
	return scimerr.ScimError{Status: http.StatusUnauthorized, Detail: detail}
}

func preconditionFailed(etag string) error {
	return scimerr.ScimError{Status: http.StatusPreconditionFailed, Detail: "the resource has changed; its version is now " + etag}
}

func detail(attr, format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	if attr == "" {
		return msg
	}
	return attr + ": " + msg
}

// scimAttribute names, in SCIM's terms, the attribute behind a domain error's
// (GraphQL-named) field.
func scimAttribute(k *kind, field string) string {
	if k == groupKind {
		switch field {
		case "name":
			return "displayName"
		case "userIds", "groupId":
			return "members"
		}
	}
	switch field {
	case "email":
		return "emails"
	case "givenName", "familyName":
		return "name." + field
	case "phone":
		return "phoneNumbers"
	case "employeeNumber", "department":
		return enterpriseURN + ":" + field
	case "managerId":
		return enterpriseURN + ":manager"
	case "id", "selection.userIds", "userId":
		return ""
	}
	return field
}

// toScim turns any error into the SCIM error to answer with; errors it cannot
// classify become 500 (and internal is true, so the caller logs them).
func toScim(k *kind, err error) (e scimerr.ScimError, internal bool) {
	if se, ok := errors.AsType[scimerr.ScimError](err); ok {
		return se, false
	}
	if se, ok := errors.AsType[*scimerr.ScimError](err); ok && se != nil {
		return *se, false
	}
	pe := problem.From(err)
	attr := scimAttribute(k, pe.Field)
	msg := pe.Message
	switch pe.Code {
	case problem.BadUserInput:
		return scimerr.ScimError{ScimType: scimerr.ScimTypeInvalidValue, Status: http.StatusBadRequest, Detail: detail(attr, "%s", msg)}, false
	case problem.NotFound:
		if attr != "" {
			// A reference in the body (a member, a manager) to a user that is not there.
			return scimerr.ScimError{ScimType: scimerr.ScimTypeInvalidValue, Status: http.StatusBadRequest, Detail: detail(attr, "%s", msg)}, false
		}
		return scimerr.ScimError{Status: http.StatusNotFound, Detail: msg}, false
	case problem.Conflict:
		if attr != "" {
			msg = strings.Replace(msg, pe.Field, attr, 1)
		}
		return scimerr.ScimError{ScimType: scimerr.ScimTypeUniqueness, Status: http.StatusConflict, Detail: msg}, false
	case problem.Unauthenticated:
		return unauthorized(msg), false
	case problem.Forbidden, problem.ReadOnly:
		return scimerr.ScimError{Status: http.StatusForbidden, Detail: msg}, false
	case problem.TooManyRequests:
		return scimerr.ScimError{Status: http.StatusTooManyRequests, Detail: msg}, false
	}
	return scimerr.ScimError{Status: http.StatusInternalServerError, Detail: "internal error"}, true
}
