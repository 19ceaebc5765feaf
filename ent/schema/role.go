package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Role ("User Role") is a named bundle of rights. Applying it copies the rights
// (SPEC §2.1); the users edge records who has had it applied.
type Role struct{ ent.Schema }

func (Role) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("description").Optional().MaxLen(1000),
		// all_data lets holders see every user's, group's and computer's data.
		field.Bool("all_data").Default(false),
		field.Bool("built_in").Default(false).Immutable(),
	}
}

func (Role) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("rights", Right.Type),
		edge.From("users", User.Type).Ref("roles").
			Annotations(entgql.RelayConnection()),
		edge.From("user_types", UserType.Type).Ref("roles"),
	}
}

func (Role) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("account_id", "name").Unique().StorageKey("uniq_roles_name"),
	}
}

func (Role) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (Role) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.QueryField(), entgql.RelayConnection()}
}
