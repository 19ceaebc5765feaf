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

// UserType is a named, live bundle (SPEC §2.2): what it holds is part of every linked
// user's effective rights for as long as the link exists.
type UserType struct{ ent.Schema }

func (UserType) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("description").Optional().MaxLen(1000),
		field.Bool("read_only").Default(false),
	}
}

func (UserType) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("roles", Role.Type),
		edge.To("grants", UserTypeGrant.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.From("users", User.Type).Ref("types").
			Annotations(entgql.RelayConnection()),
	}
}

func (UserType) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("account_id", "name").Unique().StorageKey("uniq_user_types_name"),
	}
}

func (UserType) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (UserType) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.QueryField(), entgql.RelayConnection()}
}
