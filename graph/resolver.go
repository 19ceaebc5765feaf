// Package graph is the GraphQL adapter: thin resolvers that check input, call one
// domain function (internal/admin, internal/access) and map the result.
package graph

import (
	"context"
	"time"

	"latchkey/ent"
	"latchkey/graph/model"
	"latchkey/internal/access"
	"latchkey/internal/identity"
	"latchkey/internal/viewer"
)

// Resolver is the resolver root.
type Resolver struct {
	client   *ent.Client
	identity *identity.Service
	limits   *LoginLimits
}

// LoginLimits rate-limit sign-in attempts per client address and per login.
type LoginLimits struct {
	PerAddress, PerLogin interface {
		Allow(key string) (bool, time.Duration)
		Reset(key string)
	}
}

// db is the client to use: the mutation's transaction when there is one (opened by
// entgql.Transactioner), so that a mutation's every write commits or none does.
func (r *Resolver) db(ctx context.Context) *ent.Client {
	if tx := ent.FromContext(ctx); tx != nil {
		return tx
	}
	return r.client
}

// viewer is the calling user, or nil for a caller that is not a user.
func (r *Resolver) viewer(ctx context.Context) (*ent.User, error) {
	id := viewer.FromContext(ctx).UserID()
	if id == 0 {
		return nil, nil
	}
	return r.db(ctx).User.Get(ctx, id)
}

// payload returns p, or nil when the domain call failed, so a failed mutation
// never returns a half-filled payload.
func payload[P any](p *P, err error) (*P, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}

func deleted(id int, err error) (*model.DeletePayload, error) {
	return payload(&model.DeletePayload{DeletedID: id}, err)
}

func deletedWithImpact(in model.DeleteWithImpactInput, imp *access.Impact, err error) (*model.DeleteWithImpactPayload, error) {
	if err != nil {
		return nil, err
	}
	out := &model.DeleteWithImpactPayload{Impact: imp}
	if !access.Dry(in.DryRun) {
		out.DeletedID = &in.ID
	}
	return out, nil
}

// userRights is the payload of a rule operation on one user: the user as they are
// now (nil if a dry run previewed deleting them), what changed and the impact.
func (r *Resolver) userRights(ctx context.Context, userID int, res *access.Result, err error) (*model.UserRightsPayload, error) {
	if err != nil {
		return nil, err
	}
	u, err := r.db(ctx).User.Get(ctx, userID)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	return &model.UserRightsPayload{User: u, AffectedCount: res.AffectedCount, Impact: res.Impact}, nil
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// pointers lists the addresses of a slice's elements (gqlgen's lists of objects).
func pointers[T any](list []T) []*T {
	out := make([]*T, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out
}
