// Package problem is Latchkey's error vocabulary. Domain code returns these; the
// GraphQL and SCIM adapters turn them into extensions.code and HTTP statuses. From
// also classifies store errors, so no raw SQL message ever reaches a client.
package problem

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"latchkey/ent"
	"latchkey/ent/privacy"
)

// Code is the machine-readable class of an error (SPEC §6).
type Code string

const (
	Unauthenticated Code = "UNAUTHENTICATED"
	Forbidden       Code = "FORBIDDEN"
	NotFound        Code = "NOT_FOUND"
	BadUserInput    Code = "BAD_USER_INPUT"
	Conflict        Code = "CONFLICT"
	ReadOnly        Code = "READ_ONLY"
	TooManyRequests Code = "TOO_MANY_REQUESTS"
	Internal        Code = "INTERNAL_SERVER_ERROR"
)

// Error is an error a client can act on.
type Error struct {
	Code    Code
	Field   string // the input field at fault, in the API's (camelCase) spelling
	Message string
	cause   error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.cause }

// New returns an error of the given code.
func New(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// BadInput reports that an input field is invalid.
func BadInput(field, format string, args ...any) *Error {
	return New(BadUserInput, field, format, args...)
}

// Missing reports that a record the caller named does not exist (for them).
func Missing(field, what string) *Error {
	return New(NotFound, field, "%s not found", what)
}

// MissingIfNotFound turns ent's not-found error into Missing(field, what) and
// returns any other error as it is.
func MissingIfNotFound(err error, field, what string) error {
	if ent.IsNotFound(err) {
		return Missing(field, what)
	}
	return err
}

// Duplicate reports that a value must be unique and is taken.
func Duplicate(field, format string, args ...any) *Error {
	return New(Conflict, field, format, args...)
}

// Deny reports that the caller may not do this.
func Deny(format string, args ...any) *Error { return New(Forbidden, "", format, args...) }

// From classifies err. Errors it cannot classify become Internal with a generic
// message; the caller should log the original.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	var ve *ent.ValidationError
	if errors.As(err, &ve) {
		field := Camel(ve.Name)
		return &Error{Code: BadUserInput, Field: field, Message: fmt.Sprintf("%s %s", field, validationReason(ve)), cause: err}
	}
	var nf *ent.NotFoundError
	if errors.As(err, &nf) || ent.IsNotFound(err) {
		return &Error{Code: NotFound, Message: "not found", cause: err}
	}
	var ce *ent.ConstraintError
	if errors.As(err, &ce) {
		return fromConstraint(ce)
	}
	if errors.Is(err, privacy.Deny) {
		return &Error{Code: Forbidden, Message: "not allowed", cause: err}
	}
	return &Error{Code: Internal, Message: "internal error", cause: err}
}

func validationReason(ve *ent.ValidationError) string {
	// ent wraps the validator's own error in "validator failed for field ...".
	msg := ve.Unwrap().Error()
	if inner := errors.Unwrap(ve.Unwrap()); inner != nil {
		msg = inner.Error()
	}
	// ent's validators say "value is less than the required length" and similar.
	switch {
	case strings.Contains(msg, "less than the required length"):
		return "must not be empty"
	case strings.Contains(msg, "greater than the required length"), strings.Contains(msg, "exceeds"):
		return "is too long"
	case strings.Contains(msg, "does not match validator regexp"):
		return "has an invalid format"
	case strings.Contains(msg, "invalid enum value"):
		return "has an invalid value"
	}
	return msg
}

// Unique indexes are named uniq_<table>_<column>; SQLite names the columns instead.
var (
	mysqlKey    = regexp.MustCompile(`for key '(?:[^'.]*\.)?(uniq_[a-z_]+)'`)
	sqliteCols  = regexp.MustCompile(`UNIQUE constraint failed: ([a-z_.,\s]+)`)
	uniqueNames = map[string]string{"user_name": "userName", "user_name_key": "userName"}
)

func fromConstraint(ce *ent.ConstraintError) *Error {
	msg := ce.Error()
	field := ""
	if m := mysqlKey.FindStringSubmatch(msg); m != nil {
		for _, suffix := range []string{"_user_name", "_key", "_name"} {
			if strings.HasSuffix(m[1], suffix) {
				field = lastUniqueColumn(suffix[1:])
				break
			}
		}
	} else if m := sqliteCols.FindStringSubmatch(msg); m != nil {
		cols := strings.Split(m[1], ",")
		col := strings.TrimSpace(cols[len(cols)-1])
		if i := strings.LastIndex(col, "."); i >= 0 {
			col = col[i+1:]
		}
		field = lastUniqueColumn(col)
	}
	if field == "" {
		if strings.Contains(strings.ToLower(msg), "foreign key") {
			return &Error{Code: Conflict, Message: "the record is still referenced, or refers to one that does not exist", cause: ce}
		}
		return &Error{Code: Conflict, Message: "conflicts with an existing record", cause: ce}
	}
	return &Error{Code: Conflict, Field: field, Message: fmt.Sprintf("%s is already taken", field), cause: ce}
}

func lastUniqueColumn(col string) string {
	if f, ok := uniqueNames[col]; ok {
		return f
	}
	return Camel(col)
}

// Camel turns an ent field name (given_name) into the API's spelling (givenName).
func Camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] == "id" {
			parts[i] = "Id"
			continue
		}
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}
