package scim

import (
	"strings"

	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// The schema and message URNs this endpoint speaks.
const (
	userURN       = schema.UserSchema
	groupURN      = schema.GroupSchema
	enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	patchOpURN    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	searchURN     = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	listURN       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	spcURN        = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
)

// The schemas below describe exactly what Latchkey stores: /Schemas serves them, and
// request bodies are read against them. Attributes of RFC 7643 that are not listed
// (addresses, nickName, timezone, the enterprise costCenter, …) are accepted and
// ignored, because identity providers send them by default; see ignoredAttributes.

func str(name, desc string) schema.SimpleParams {
	return schema.SimpleStringParams(schema.StringParams{Name: name, Description: optional.NewString(desc)})
}

func strAttr(name, desc string) schema.CoreAttribute {
	return schema.SimpleCoreAttribute(str(name, desc))
}

// multiValue is a multi-valued complex attribute with value, type and primary, of
// which Latchkey keeps one value.
func multiValue(name, desc, valueDesc string, types []string) schema.CoreAttribute {
	return schema.ComplexCoreAttribute(schema.ComplexParams{
		Name:        name,
		MultiValued: true,
		Description: optional.NewString(desc),
		SubAttributes: []schema.SimpleParams{
			str("value", valueDesc),
			schema.SimpleStringParams(schema.StringParams{Name: "type", CanonicalValues: types,
				Description: optional.NewString("A label indicating the attribute's function.")}),
			schema.SimpleBooleanParams(schema.BooleanParams{Name: "primary",
				Description: optional.NewString("Whether this is the preferred value.")}),
		},
	})
}

var userSchema = schema.Schema{
	ID:          userURN,
	Name:        optional.NewString("User"),
	Description: optional.NewString("A person in the account."),
	Attributes: []schema.CoreAttribute{
		schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
			Name: "userName", Required: true, Uniqueness: schema.AttributeUniquenessServer(),
			Description: optional.NewString("The user's sign-in name (Latchkey's User ID), unique in the account, compared case-insensitively."),
		})),
		schema.ComplexCoreAttribute(schema.ComplexParams{
			Name:        "name",
			Description: optional.NewString("The components of the user's name."),
			SubAttributes: []schema.SimpleParams{
				str("formatted", "The full name; returned as givenName and familyName joined, and not stored when sent."),
				str("familyName", "The family name."),
				str("givenName", "The given name."),
			},
		}),
		strAttr("displayName", "The name of the user, suitable for display."),
		multiValue("emails", "Email addresses. Latchkey keeps one: the primary, else the work address, else the first.",
			"The email address.", []string{"work", "home", "other"}),
		multiValue("phoneNumbers", "Phone numbers. Latchkey keeps one: the primary, else the work number, else the first.",
			"The phone number.", []string{"work", "mobile", "home", "fax", "other"}),
		strAttr("title", "The user's title, such as \"Claims Adjuster\"."),
		strAttr("locale", "The user's default location for formatting, such as \"en-US\"."),
		schema.SimpleCoreAttribute(schema.SimpleBooleanParams(schema.BooleanParams{
			Name:        "active",
			Description: optional.NewString("Whether the user may use the account; false suspends them and ends their sessions."),
		})),
		schema.ComplexCoreAttribute(schema.ComplexParams{
			Name:        "groups",
			MultiValued: true,
			Mutability:  schema.AttributeMutabilityReadOnly(),
			Description: optional.NewString("The groups the user is a member of (read-only: change membership through Groups)."),
			SubAttributes: []schema.SimpleParams{
				schema.SimpleStringParams(schema.StringParams{Name: "value", Mutability: schema.AttributeMutabilityReadOnly(),
					CaseExact: true, Description: optional.NewString("The id of the group.")}),
				schema.SimpleReferenceParams(schema.ReferenceParams{Name: "$ref", Mutability: schema.AttributeMutabilityReadOnly(),
					ReferenceTypes: []schema.AttributeReferenceType{"Group"}, Description: optional.NewString("The URI of the group.")}),
				schema.SimpleStringParams(schema.StringParams{Name: "display", Mutability: schema.AttributeMutabilityReadOnly(),
					Description: optional.NewString("The group's displayName.")}),
				schema.SimpleStringParams(schema.StringParams{Name: "type", Mutability: schema.AttributeMutabilityReadOnly(),
					CanonicalValues: []string{"direct"}, Description: optional.NewString("Always \"direct\".")}),
			},
		}),
	},
}

var enterpriseSchema = schema.Schema{
	ID:          enterpriseURN,
	Name:        optional.NewString("EnterpriseUser"),
	Description: optional.NewString("Enterprise User"),
	Attributes: []schema.CoreAttribute{
		strAttr("employeeNumber", "The user's employee number."),
		strAttr("department", "The user's department."),
		schema.ComplexCoreAttribute(schema.ComplexParams{
			Name:        "manager",
			Description: optional.NewString("The user's manager: another user of the account, by id."),
			SubAttributes: []schema.SimpleParams{
				schema.SimpleStringParams(schema.StringParams{Name: "value", CaseExact: true,
					Description: optional.NewString("The id of the manager's User resource.")}),
				schema.SimpleReferenceParams(schema.ReferenceParams{Name: "$ref", ReferenceTypes: []schema.AttributeReferenceType{"User"},
					Description: optional.NewString("The URI of the manager's User resource.")}),
				schema.SimpleStringParams(schema.StringParams{Name: "displayName", Mutability: schema.AttributeMutabilityReadOnly(),
					Description: optional.NewString("The manager's displayName (read-only).")}),
			},
		}),
	},
}

var groupSchema = schema.Schema{
	ID:          groupURN,
	Name:        optional.NewString("Group"),
	Description: optional.NewString("A named set of users; membership can drive rights through mapping rules."),
	Attributes: []schema.CoreAttribute{
		schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
			Name: "displayName", Required: true, Uniqueness: schema.AttributeUniquenessServer(),
			Description: optional.NewString("The group's name, unique in the account."),
		})),
		schema.ComplexCoreAttribute(schema.ComplexParams{
			Name:        "members",
			MultiValued: true,
			Description: optional.NewString("The users in the group (computers are not exposed through SCIM)."),
			SubAttributes: []schema.SimpleParams{
				schema.SimpleStringParams(schema.StringParams{Name: "value", Mutability: schema.AttributeMutabilityImmutable(),
					CaseExact: true, Description: optional.NewString("The id of the member's User resource.")}),
				schema.SimpleReferenceParams(schema.ReferenceParams{Name: "$ref", Mutability: schema.AttributeMutabilityImmutable(),
					ReferenceTypes: []schema.AttributeReferenceType{"User"}, Description: optional.NewString("The URI of the member.")}),
				schema.SimpleStringParams(schema.StringParams{Name: "display", Mutability: schema.AttributeMutabilityImmutable(),
					Description: optional.NewString("The member's name, for display.")}),
				schema.SimpleStringParams(schema.StringParams{Name: "type", Mutability: schema.AttributeMutabilityImmutable(),
					CanonicalValues: []string{"User"}, Description: optional.NewString("Always \"User\".")}),
			},
		}),
	},
}

// ignoredAttributes are attributes of RFC 7643's User, Group and enterprise User
// that Latchkey does not store. Identity providers send several of them by default
// (Entra ID: addresses, preferredLanguage, roles; Okta: password), so they are
// accepted and ignored rather than refused.
var ignoredAttributes = map[string]bool{
	"nickname": true, "profileurl": true, "usertype": true, "preferredlanguage": true, "timezone": true,
	"password": true, "addresses": true, "ims": true, "photos": true, "entitlements": true, "roles": true,
	"x509certificates": true, "costcenter": true, "organization": true, "division": true,
}

// attrIn returns the attribute of s named name (case-insensitively).
func attrIn(s schema.Schema, name string) (schema.CoreAttribute, bool) {
	return s.Attributes.ContainsAttribute(name)
}

// subAttr returns the sub-attribute of a named name (case-insensitively).
func subAttr(a schema.CoreAttribute, name string) (schema.CoreAttribute, bool) {
	for _, s := range a.SubAttributes() {
		if strings.EqualFold(s.Name(), name) {
			return s, true
		}
	}
	return schema.CoreAttribute{}, false
}

func readOnly(a schema.CoreAttribute) bool { return a.Mutability() == "readOnly" }

// kind is a resource type this endpoint serves.
type kind struct {
	name       string // "User" or "Group"
	endpoint   string // "/Users"
	core       schema.Schema
	extensions []schema.Schema
}

var (
	userKind  = &kind{name: "User", endpoint: "/Users", core: userSchema, extensions: []schema.Schema{enterpriseSchema}}
	groupKind = &kind{name: "Group", endpoint: "/Groups", core: groupSchema}
)

// schemaURNs lists the schemas a resource of k carries.
func (k *kind) schemaURNs() []string {
	out := []string{k.core.ID}
	for _, e := range k.extensions {
		out = append(out, e.ID)
	}
	return out
}

// extension returns k's extension schema with the URN urn (case-insensitively).
func (k *kind) extension(urn string) (schema.Schema, bool) {
	for _, e := range k.extensions {
		if strings.EqualFold(e.ID, urn) {
			return e, true
		}
	}
	return schema.Schema{}, false
}

// maxResults is the largest page a list or search returns.
const maxResults = 1000

// serviceProviderConfig describes exactly what this endpoint supports (the
// library's own document cannot say that sorting and ETags are).
func serviceProviderConfig(base string) map[string]any {
	return map[string]any{
		"schemas":          []string{spcURN},
		"documentationUri": "https://github.com/latchkey/latchkey#scim",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": maxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []map[string]any{{
			"type":        "oauthbearertoken",
			"name":        "OAuth Bearer Token",
			"description": "A per-account SCIM token created with the createScimToken mutation, sent as Authorization: Bearer <token>.",
			"specUri":     "https://www.rfc-editor.org/info/rfc6750",
			"primary":     true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": base + "/ServiceProviderConfig"},
	}
}
