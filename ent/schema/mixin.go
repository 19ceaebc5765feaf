// Package schema holds Latchkey's ent schema: the data graph of SPEC §1.
package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"latchkey/ent/privacy"
	"latchkey/internal/audit"
	"latchkey/internal/viewer"
)

// TimeMixin records when a record was created and last changed.
type TimeMixin struct{ mixin.Schema }

func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").SchemaType(preciseTime).Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at").SchemaType(preciseTime).Default(time.Now).UpdateDefault(time.Now).
			Annotations(entgql.OrderField("UPDATED_AT")),
	}
}

// TenantMixin puts a record in exactly one account. Its privacy policy is the one
// place tenant isolation is enforced: every query and mutation is filtered to the
// caller's account, and creates are stamped with it.
type TenantMixin struct{ mixin.Schema }

func (TenantMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Int("account_id").Immutable().
			Annotations(entgql.Skip()),
	}
}

func (TenantMixin) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("account", Account.Type).Field("account_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(), entsql.OnDelete(entsql.Cascade)),
	}
}

// Hooks check that ids linked by a mutation are the caller's own and record the
// change in the audit log, for every account-scoped type.
func (TenantMixin) Hooks() []ent.Hook {
	return []ent.Hook{viewer.EdgeOwnershipHook(), audit.Hook()}
}

func (TenantMixin) Policy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{viewer.TenantMutationRule()},
		Query:    privacy.QueryPolicy{viewer.TenantQueryRule()},
	}
}

// tableOptions makes string comparison and uniqueness the same on MySQL as on
// SQLite (byte-wise); case-insensitive matching is explicit where the SPEC wants it.
func tableOptions() schema.Annotation {
	return entsql.Annotation{Charset: "utf8mb4", Collation: "utf8mb4_bin"}
}

// sourceValues are where a record or a grant came from.
var sourceValues = []string{"MANUAL", "CSV", "SCIM"}

// preciseTime stores times to the microsecond on MySQL, whose default TIMESTAMP keeps
// whole seconds (and ends in 2038); ordering and cursors need the precision.
var preciseTime = map[string]string{dialect.MySQL: "datetime(6)"}
