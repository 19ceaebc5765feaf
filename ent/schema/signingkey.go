package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"latchkey/ent/privacy"
)

// SigningKey is a key the server signs access tokens with. It lives in the database
// so every replica signs and verifies with the same keys.
type SigningKey struct{ ent.Schema }

func (SigningKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("kid").NotEmpty().Unique().Immutable(),
		field.String("algorithm").NotEmpty().Immutable(),
		field.Bytes("private_key").Sensitive().Immutable(),
		field.Bytes("public_key").Immutable(),
		field.Time("not_after").SchemaType(preciseTime).Optional().Nillable(),
	}
}

func (SigningKey) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

func (SigningKey) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.Skip()}
}

func (SigningKey) Policy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
		Query:    privacy.QueryPolicy{privacy.AlwaysDenyRule()},
	}
}
