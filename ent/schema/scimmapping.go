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

// ScimMappingRule makes membership of a provisioned group drive rights: members of
// the group named group_name get the user type linked (live) or the role applied.
type ScimMappingRule struct{ ent.Schema }

func (ScimMappingRule) Fields() []ent.Field {
	return []ent.Field{
		// group_name is matched case-insensitively against the SCIM group's displayName.
		field.String("group_name").NotEmpty().MaxLen(200),
		field.Int("user_type_id").Optional().Nillable(),
		field.Int("role_id").Optional().Nillable(),
	}
}

func (ScimMappingRule) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user_type", UserType.Type).Field("user_type_id").Unique().
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("role", Role.Type).Field("role_id").Unique().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

func (ScimMappingRule) Indexes() []ent.Index {
	return []ent.Index{index.Fields("account_id", "group_name"), index.Fields("user_type_id"), index.Fields("role_id")}
}

func (ScimMappingRule) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (ScimMappingRule) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.QueryField("scimMappingRules"), entgql.RelayConnection()}
}
