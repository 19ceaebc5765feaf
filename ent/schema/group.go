package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"latchkey/ent/privacy"
	"latchkey/internal/viewer"
)

// Group is a named set of users and computers.
type Group struct{ ent.Schema }

func (Group) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("description").Optional().MaxLen(1000),
		field.String("external_id").Optional().Nillable().MaxLen(255),
		field.Enum("source").Values(sourceValues...).Default("MANUAL"),
	}
}

func (Group) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("users", User.Type).
			Annotations(entgql.RelayConnection()),
		edge.To("computers", Computer.Type).
			Annotations(entgql.RelayConnection()),
	}
}

func (Group) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("account_id", "name").Unique().StorageKey("uniq_groups_name"),
		index.Fields("account_id", "external_id"),
	}
}

// Policy confines restricted viewers to their viewable groups' data (SPEC §2.4).
func (Group) Policy() ent.Policy {
	rule := viewer.VisibilityRule(viewer.VisibleGroups)
	return privacy.Policy{Query: privacy.QueryPolicy{rule}, Mutation: privacy.MutationPolicy{rule}}
}

func (Group) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (Group) Annotations() []schema.Annotation {
	return []schema.Annotation{
		tableOptions(),
		entgql.QueryField(),
		entgql.RelayConnection(),
	}
}
