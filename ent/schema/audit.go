package schema

import (
	"encoding/json"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"latchkey/ent/privacy"
	"latchkey/internal/viewer"
)

// AuditEvent records one change: who did what to which record, with the record as it
// was before and after. The log is append-only: no update or delete gets through.
type AuditEvent struct{ ent.Schema }

func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("actor_kind").Values("USER", "SERVICE", "SCIM", "SYSTEM").Immutable(),
		field.Int("actor_id").Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.String("actor").MaxLen(300).Immutable().
			Annotations(entgql.OrderField("ACTOR")),
		// operation is the API call that caused the change (a GraphQL field, a SCIM route).
		field.String("operation").MaxLen(100).Optional().Immutable(),
		// action is "<target type>.<create|update|delete>" or a domain action.
		field.String("action").MaxLen(100).Immutable().
			Annotations(entgql.OrderField("ACTION")),
		field.String("target_type").MaxLen(100).Immutable(),
		field.Int("target_id").Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.JSON("before", json.RawMessage{}).Optional().Immutable().
			Annotations(entgql.Type("JSON")),
		field.JSON("after", json.RawMessage{}).Optional().Immutable().
			Annotations(entgql.Type("JSON")),
		field.String("request_id").MaxLen(100).Optional().Immutable(),
		field.Time("created_at").SchemaType(preciseTime).Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
	}
}

func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("account_id", "created_at"),
		index.Fields("account_id", "target_type", "target_id"),
		index.Fields("account_id", "actor_kind", "actor_id"),
		index.Fields("account_id", "action"),
	}
}

func (AuditEvent) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

func (AuditEvent) Policy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{viewer.AppendOnlyRule()},
	}
}

func (AuditEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.QueryField(), entgql.RelayConnection()}
}
