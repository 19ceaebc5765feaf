// Package graph is the GraphQL adapter: thin resolvers that check input, call one
// domain function (internal/admin, internal/access) and map the result.
package graph

import (
	"context"

	"latchkey/ent"
	"latchkey/graph/model"
	"latchkey/internal/viewer"
)

// Resolver is the resolver root.
type Resolver struct {
	client *ent.Client
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
