package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ScimToken is an account's bearer token for its identity provider's SCIM client.
// Only a hash of the secret is kept; the secret is shown once, when created.
type ScimToken struct{ ent.Schema }

func (ScimToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200),
		// secret_hash is the SHA-256 of the token (the token is 256 random bits, so a
		// fast hash suffices); the lookup is by hash.
		field.String("secret_hash").MaxLen(64).Immutable().Sensitive(),
		// prefix is the token's first characters, to tell tokens apart in a list.
		field.String("prefix").MaxLen(16).Immutable(),
		field.Int("created_by_id").Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.Time("last_used_at").SchemaType(preciseTime).Optional().Nillable(),
		field.Time("revoked_at").SchemaType(preciseTime).Optional().Nillable(),
	}
}

func (ScimToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("secret_hash").Unique(),
		index.Fields("account_id"),
	}
}

func (ScimToken) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (ScimToken) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.QueryField("scimTokens"), entgql.RelayConnection()}
}
