package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// TypeLinkSource says why a user is linked to a user type: linked by hand (no
// group), or by a mapping rule because the user is a member of a provisioned group.
// A link (user_type_links) exists while it has at least one source, so leaving a
// mapped group unlinks the type only when nothing else keeps it, and provenance can
// name the group (SPEC §2.6).
type TypeLinkSource struct{ ent.Schema }

func (TypeLinkSource) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Int("user_type_id").Immutable(),
		field.Int("group_id").Optional().Nillable().Immutable(),
	}
}

func (TypeLinkSource) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("user_type", UserType.Type).Field("user_type_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("group", Group.Type).Field("group_id").Unique().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

func (TypeLinkSource) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "user_type_id"),
		index.Fields("group_id", "user_type_id"),
		index.Fields("user_type_id"),
	}
}

func (TypeLinkSource) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

func (TypeLinkSource) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.Skip()}
}
