package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"latchkey/ent/privacy"
)

// Secrets sent to people (invitation, reset and refresh tokens) are kept only as
// SHA-256 hashes: they are 256 random bits, so a fast hash is enough, and the lookup
// is by hash.

// Invitation asks a person to set up a login (SETUP) or to link their existing
// identity (LINK) to a user of an account. Single use, expiring.
type Invitation struct{ ent.Schema }

func (Invitation) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Enum("kind").Values("SETUP", "LINK").Immutable(),
		field.String("email").MaxLen(254).Immutable(),
		field.String("token_hash").MaxLen(64).Immutable().Sensitive().Annotations(entgql.Skip()),
		field.Time("expires_at").SchemaType(preciseTime).Immutable(),
		field.Time("accepted_at").SchemaType(preciseTime).Optional().Nillable(),
	}
}

func (Invitation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

func (Invitation) Indexes() []ent.Index {
	return []ent.Index{index.Fields("token_hash").Unique(), index.Fields("user_id")}
}

func (Invitation) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (Invitation) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.Skip()}
}

// RefreshToken is one link of a rotating refresh-token chain (a family). Using a
// token that was already rotated revokes its whole family (reuse detection).
type RefreshToken struct{ ent.Schema }

func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.String("family").MaxLen(32).Immutable(),
		field.String("token_hash").MaxLen(64).Immutable().Sensitive(),
		field.Time("expires_at").SchemaType(preciseTime).Immutable(),
		field.Time("used_at").SchemaType(preciseTime).Optional().Nillable(),
		field.Time("revoked_at").SchemaType(preciseTime).Optional().Nillable(),
	}
}

func (RefreshToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("token_hash").Unique(), index.Fields("family"), index.Fields("user_id")}
}

func (RefreshToken) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (RefreshToken) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.Skip()}
}

// PasswordReset lets the holder of an identity's email set a new password. Global,
// like the identity; single use, expiring.
type PasswordReset struct{ ent.Schema }

func (PasswordReset) Fields() []ent.Field {
	return []ent.Field{
		field.Int("identity_id").Immutable(),
		field.String("token_hash").MaxLen(64).Immutable().Sensitive(),
		field.Time("expires_at").SchemaType(preciseTime).Immutable(),
		field.Time("used_at").SchemaType(preciseTime).Optional().Nillable(),
	}
}

func (PasswordReset) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("identity", Identity.Type).Field("identity_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

func (PasswordReset) Indexes() []ent.Index {
	return []ent.Index{index.Fields("token_hash").Unique(), index.Fields("identity_id")}
}

func (PasswordReset) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

func (PasswordReset) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.Skip()}
}

func (PasswordReset) Policy() ent.Policy { return systemOnly() }

// OutboxMessage is an email waiting to be sent, written in the transaction of the
// change that sends it; a background sender delivers it with retries.
type OutboxMessage struct{ ent.Schema }

func (OutboxMessage) Fields() []ent.Field {
	return []ent.Field{
		field.String("to").MaxLen(254).Immutable(),
		field.String("subject").MaxLen(300).Immutable(),
		field.Text("body_text").Immutable(),
		field.Text("body_html").Optional().Immutable(),
		field.Int("attempts").Default(0),
		field.Time("next_attempt_at").SchemaType(preciseTime),
		field.Time("sent_at").SchemaType(preciseTime).Optional().Nillable(),
		field.String("last_error").MaxLen(1000).Optional(),
	}
}

func (OutboxMessage) Indexes() []ent.Index {
	return []ent.Index{index.Fields("sent_at", "next_attempt_at")}
}

func (OutboxMessage) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

func (OutboxMessage) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.Skip()}
}

func (OutboxMessage) Policy() ent.Policy { return systemOnly() }

// APIClient is a service that calls Latchkey with the OAuth client-credentials grant.
// It belongs to an account and holds roles as a user does.
type APIClient struct{ ent.Schema }

func (APIClient) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).Annotations(entgql.OrderField("NAME")),
		// client_id is the public identifier the client authenticates with.
		field.String("client_id").MaxLen(64).Unique().Immutable(),
		field.Bool("active").Default(true),
		field.Time("last_used_at").SchemaType(preciseTime).Optional().Nillable(),
	}
}

func (APIClient) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("roles", Role.Type),
		edge.To("secrets", APIClientSecret.Type).Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
	}
}

func (APIClient) Indexes() []ent.Index {
	return []ent.Index{index.Fields("account_id", "name").Unique().StorageKey("uniq_api_clients_name")}
}

func (APIClient) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (APIClient) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.QueryField("apiClients"), entgql.RelayConnection()}
}

// APIClientSecret is one of a client's secrets (several during a rotation), hashed.
type APIClientSecret struct{ ent.Schema }

func (APIClientSecret) Fields() []ent.Field {
	return []ent.Field{
		field.Int("api_client_id").Immutable(),
		field.String("secret_hash").MaxLen(64).Immutable().Sensitive(),
		field.String("prefix").MaxLen(16).Immutable(),
		field.Time("expires_at").SchemaType(preciseTime).Optional().Nillable(),
		field.Time("revoked_at").SchemaType(preciseTime).Optional().Nillable(),
	}
}

func (APIClientSecret) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("api_client", APIClient.Type).Ref("secrets").Field("api_client_id").Unique().Required().Immutable(),
	}
}

func (APIClientSecret) Indexes() []ent.Index {
	return []ent.Index{index.Fields("secret_hash").Unique(), index.Fields("api_client_id")}
}

func (APIClientSecret) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (APIClientSecret) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.Skip()}
}

// systemOnly lets nothing but an explicit system decision through.
func systemOnly() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
		Query:    privacy.QueryPolicy{privacy.AlwaysDenyRule()},
	}
}
