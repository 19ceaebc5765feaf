package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"latchkey/ent/privacy"
)

// Identity is a global login keyed by email, linked to users in any number of
// accounts. Only the system (authentication) context reads or writes it.
type Identity struct{ ent.Schema }

func (Identity) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").NotEmpty().MaxLen(254).Unique(),
		field.String("password_hash").Optional().Sensitive(),
	}
}

func (Identity) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("users", User.Type).Ref("identity"),
	}
}

func (Identity) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

func (Identity) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.Skip()}
}

func (Identity) Policy() ent.Policy {
	// Nothing but an explicit system decision (privacy.DecisionContext) gets through.
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
		Query:    privacy.QueryPolicy{privacy.AlwaysDenyRule()},
	}
}
