// Package viewer is the caller of a request — who they are and which account they
// act in — and the ent privacy rules that confine every query and mutation to that
// account. It is the one place tenant isolation is enforced.
package viewer

import (
	"context"
	"fmt"
)

// Kind is what sort of caller a viewer is.
type Kind string

const (
	KindUser    Kind = "USER"    // a person, authenticated by a token
	KindService Kind = "SERVICE" // an API client
	KindSCIM    Kind = "SCIM"    // an identity provider with a SCIM token
	KindSystem  Kind = "SYSTEM"  // the server itself: bootstrap, the command line
)

// Viewer is the caller of the current request.
type Viewer struct {
	AccountID int
	Kind      Kind
	// ActorID is the user, service client or SCIM token acting; 0 for the system.
	ActorID int
	// Actor names the caller for the audit log ("user:jane@acme.test").
	Actor string
	// AllData is set for a user holding a role with allData (SPEC §2.4); any other
	// user sees only ViewableGroupIDs' members (and themselves).
	AllData          bool
	ViewableGroupIDs []int
}

// Restricted reports whether the viewer sees only their viewable groups' data: a user
// without an all-data role. Services, SCIM clients and the system see the account.
func (v *Viewer) Restricted() bool {
	return v != nil && v.Kind == KindUser && !v.AllData
}

type ctxKey struct{}

// NewContext returns ctx carrying v.
func NewContext(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the viewer in ctx, or nil when there is none.
func FromContext(ctx context.Context) *Viewer {
	v, _ := ctx.Value(ctxKey{}).(*Viewer)
	return v
}

// System returns ctx acting as the server itself within one account.
func System(ctx context.Context, accountID int, why string) context.Context {
	return NewContext(ctx, &Viewer{AccountID: accountID, Kind: KindSystem, Actor: "system:" + why})
}

// UserID is the acting user's id, or 0 when the caller is not a user.
func (v *Viewer) UserID() int {
	if v == nil || v.Kind != KindUser {
		return 0
	}
	return v.ActorID
}

func (v *Viewer) String() string {
	if v == nil {
		return "anonymous"
	}
	return fmt.Sprintf("%s (account %d)", v.Actor, v.AccountID)
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the HTTP request being served.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the id of the request being served, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

type operationKey struct{}

// WithOperation returns ctx naming the API operation being served (a GraphQL field
// or a SCIM route), for the audit log.
func WithOperation(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, operationKey{}, op)
}

// Operation is the API operation being served, or "".
func Operation(ctx context.Context) string {
	op, _ := ctx.Value(operationKey{}).(string)
	return op
}
