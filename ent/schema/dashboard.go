package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Dashboard is a management dashboard a user may be given access to.
type Dashboard struct{ ent.Schema }

func (Dashboard) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.Enum("kind").Values("GENERIC", "CUSTOM", "SCORECARD").
			Annotations(entgql.OrderField("KIND")),
		field.String("description").Optional().MaxLen(1000),
	}
}

func (Dashboard) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("account_id", "name").Unique().StorageKey("uniq_dashboards_name"),
	}
}

func (Dashboard) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (Dashboard) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.QueryField(), entgql.RelayConnection()}
}
