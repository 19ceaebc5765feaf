package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"latchkey/ent/privacy"
	"latchkey/internal/viewer"
)

// Account is a tenant: one customer organisation.
type Account struct{ ent.Schema }

func (Account) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(100).Unique(),
	}
}

func (Account) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

func (Account) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.Skip(entgql.SkipWhereInput)}
}

func (Account) Policy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
		Query:    privacy.QueryPolicy{viewer.OwnAccountRule()},
	}
}
