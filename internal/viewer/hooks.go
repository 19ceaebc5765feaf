package viewer

import (
	"context"
	"fmt"

	"entgo.io/ent"

	gen "latchkey/ent"
	"latchkey/ent/privacy"
	"latchkey/internal/problem"
)

// mutationClient is implemented by every generated mutation: the client (inside a
// transaction, the transaction's client) the mutation runs on.
type mutationClient interface {
	Client() *gen.Client
}

// EdgeOwnershipHook refuses a mutation that links a record to one the caller cannot
// see (an id from another account, or one that does not exist). Privacy rules scope
// the rows a mutation changes; this closes the other way in: the ids it adds.
func EdgeOwnershipHook() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if err := checkAddedEdges(ctx, m); err != nil {
				return nil, err
			}
			return next.Mutate(ctx, m)
		})
	}
}

func checkAddedEdges(ctx context.Context, m ent.Mutation) error {
	if decision, ok := privacy.DecisionFromContext(ctx); ok && decision == privacy.Allow {
		return nil // the system acting across accounts (account creation)
	}
	mc, ok := m.(mutationClient)
	if !ok {
		return fmt.Errorf("%T has no client", m)
	}
	for _, edge := range m.AddedEdges() {
		target := gen.EdgeTargets[m.Type()][edge]
		ids := uniqueInts(m.AddedIDs(edge))
		if len(ids) == 0 || target == "" || globalTypes[target] {
			continue
		}
		n, err := mc.Client().CountByIDs(ctx, target, ids)
		if err != nil {
			return err
		}
		if n != len(ids) {
			return problem.New(problem.NotFound, "", "%s not found", target)
		}
	}
	return nil
}

// globalTypes belong to no account: the account edge is stamped by
// TenantMutationRule, and identities are linked only by the authentication layer.
var globalTypes = map[string]bool{gen.TypeAccount: true, gen.TypeIdentity: true, gen.TypeSigningKey: true,
	gen.TypePasswordReset: true, gen.TypeOutboxMessage: true}

func uniqueInts(values []ent.Value) []int {
	seen := make(map[int]bool, len(values))
	out := make([]int, 0, len(values))
	for _, v := range values {
		id, ok := v.(int)
		if ok && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
