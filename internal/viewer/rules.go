package viewer

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/entql"

	"latchkey/ent/privacy"
)

// accountFilter is implemented by the generated filter of every account-scoped type.
type accountFilter interface {
	WhereAccountID(entql.IntP)
}

// accountMutation is implemented by the generated mutation of every account-scoped type.
type accountMutation interface {
	AccountID() (int, bool)
	SetAccountID(int)
}

// TenantQueryRule limits every query of an account-scoped type to the viewer's
// account, and refuses a query with no viewer at all.
func TenantQueryRule() privacy.QueryRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		if FromContext(ctx) == nil {
			return privacy.Denyf("no viewer in context")
		}
		return tenantFilter(ctx, f)
	})
}

// TenantMutationRule stamps creates with the viewer's account (refusing any other
// account) and limits updates and deletes to rows of the viewer's account.
func TenantMutationRule() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		v := FromContext(ctx)
		if v == nil {
			return privacy.Denyf("no viewer in context")
		}
		if m.Op().Is(ent.OpCreate) {
			am, ok := m.(accountMutation)
			if !ok {
				return privacy.Denyf("%T is not account-scoped", m)
			}
			if id, set := am.AccountID(); set && id != v.AccountID {
				return privacy.Denyf("cannot create a record in another account")
			}
			am.SetAccountID(v.AccountID)
			return privacy.Skip
		}
		// Updates and deletes: the same account filter as queries.
		return tenantFilter.EvalMutation(ctx, m)
	})
}

// tenantFilter adds "account_id = viewer's account" to a query or mutation.
var tenantFilter = privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
	af, ok := f.(accountFilter)
	if !ok {
		return privacy.Denyf("%T is not account-scoped", f)
	}
	af.WhereAccountID(entql.IntEQ(FromContext(ctx).AccountID))
	return privacy.Skip
})

// OwnAccountRule lets a viewer read only their own account.
func OwnAccountRule() privacy.QueryRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := FromContext(ctx)
		if v == nil {
			return privacy.Denyf("no viewer in context")
		}
		idf, ok := f.(interface{ WhereID(entql.IntP) })
		if !ok {
			return privacy.Denyf("%T has no id", f)
		}
		idf.WhereID(entql.IntEQ(v.AccountID))
		return privacy.Skip
	})
}

// AppendOnlyRule lets records be created and never changed or deleted.
func AppendOnlyRule() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		if m.Op().Is(ent.OpCreate) {
			return privacy.Skip
		}
		return privacy.Denyf("%s records are append-only", m.Type())
	})
}

// VisibilityRule limits what a restricted viewer reads and changes of a type to the
// data of their viewable groups' members (SPEC §2.4). where gives the condition for
// the type; creates are not limited (they are checked by the rights guards).
func VisibilityRule(where func(v *Viewer) entql.P) privacy.QueryMutationRule {
	filter := privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := FromContext(ctx)
		if !v.Restricted() {
			return privacy.Skip
		}
		wf, ok := f.(interface{ Where(entql.P) })
		if !ok {
			return privacy.Denyf("%T cannot be filtered", f)
		}
		wf.Where(where(v))
		return privacy.Skip
	})
	return visibilityRule{filter}
}

type visibilityRule struct{ privacy.FilterFunc }

func (r visibilityRule) EvalMutation(ctx context.Context, m ent.Mutation) error {
	if m.Op().Is(ent.OpCreate) {
		return privacy.Skip
	}
	return r.FilterFunc.EvalMutation(ctx, m)
}

// VisibleUsers: the viewer, and members of their viewable groups.
func VisibleUsers(v *Viewer) entql.P {
	if len(v.ViewableGroupIDs) == 0 {
		return entql.FieldEQ("id", v.ActorID)
	}
	return entql.Or(entql.FieldEQ("id", v.ActorID), entql.HasEdgeWith("groups", entql.FieldIn("id", anys(v.ViewableGroupIDs)...)))
}

// VisibleGroups: the viewable groups themselves.
func VisibleGroups(v *Viewer) entql.P {
	if len(v.ViewableGroupIDs) == 0 {
		return nothing
	}
	return entql.FieldIn("id", anys(v.ViewableGroupIDs)...)
}

// VisibleComputers: computers in the viewable groups.
func VisibleComputers(v *Viewer) entql.P {
	if len(v.ViewableGroupIDs) == 0 {
		return nothing
	}
	return entql.HasEdgeWith("groups", entql.FieldIn("id", anys(v.ViewableGroupIDs)...))
}

// nothing matches no row (an empty IN list is not valid SQL on MySQL).
var nothing = entql.FieldNil("id")

func anys(ids []int) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
