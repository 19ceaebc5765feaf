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
	"latchkey/internal/viewer"
)

// Computer is a tracked device in the account.
type Computer struct{ ent.Schema }

func (Computer) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("hostname").Optional().MaxLen(255).
			Annotations(entgql.OrderField("HOSTNAME")),
		field.Int("owner_id").Optional().Nillable(),
	}
}

func (Computer) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("owner", User.Type).Field("owner_id").Unique().
			Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.From("groups", Group.Type).Ref("computers"),
	}
}

func (Computer) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("account_id", "name").Unique().StorageKey("uniq_computers_name"),
		index.Fields("owner_id"),
	}
}

// Policy confines restricted viewers to their viewable groups' data (SPEC §2.4).
func (Computer) Policy() ent.Policy {
	rule := viewer.VisibilityRule(viewer.VisibleComputers)
	return privacy.Policy{Query: privacy.QueryPolicy{rule}, Mutation: privacy.MutationPolicy{rule}}
}

func (Computer) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (Computer) Annotations() []schema.Annotation {
	return []schema.Annotation{
		tableOptions(),
		entgql.QueryField(),
		entgql.RelayConnection(),
	}
}
