// Package viewer is the caller of a request — who they are and which account they
// act in — and the ent privacy rules that confine every query and mutation to that
// account. It is the one place tenant isolation is enforced.
package viewer

import (
	"context"
	"fmt"
	"sync"
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

	// loadAuthority reads what the caller may do; it runs at most once per request.
	loadAuthority func(context.Context) (*Authority, error)
	authorityOnce sync.Once
	authority     *Authority
	authorityErr  error
}

// Authority is what a caller may do (SPEC §2.8): the application rights they hold
// effectively, whether they are an Admin, and whether they are read-only.
type Authority struct {
	All      bool // the system and SCIM clients act with the account's authority
	Rights   map[string]bool
	Admin    bool
	ReadOnly bool
}

// Holds reports whether the caller holds the right (by key). The built-in Admin role
// is defined as every right, including rights added to the catalogue after it was
// applied, so an Admin holds them all.
func (a *Authority) Holds(key string) bool { return a != nil && (a.All || a.Admin || a.Rights[key]) }

// IsAdmin reports whether the caller is an Admin (or the system).
func (a *Authority) IsAdmin() bool { return a != nil && (a.All || a.Admin) }

// Account is the viewer's account, or 0 without a viewer.
func (v *Viewer) Account() int {
	if v == nil {
		return 0
	}
	return v.AccountID
}

// SetAuthorityLoader sets how the caller's authority is read when first needed.
func (v *Viewer) SetAuthorityLoader(load func(context.Context) (*Authority, error)) {
	v.loadAuthority = load
}

// Authority returns what the caller may do, reading it once per request. The system
// and SCIM clients have the account's whole authority.
func (v *Viewer) Authority(ctx context.Context) (*Authority, error) {
	if v == nil {
		return &Authority{}, nil
	}
	if v.Kind == KindSystem || v.Kind == KindSCIM || v.loadAuthority == nil {
		if v.Kind == KindUser || v.Kind == KindService {
			return &Authority{}, nil // a caller whose authority cannot be read holds nothing
		}
		return &Authority{All: true}, nil
	}
	v.authorityOnce.Do(func() { v.authority, v.authorityErr = v.loadAuthority(ctx) })
	return v.authority, v.authorityErr
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

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the client's network address (for rate limits).
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddr is the client's network address, or "".
func ClientAddr(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}
