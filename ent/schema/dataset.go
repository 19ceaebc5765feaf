package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"
)

// DataSet is a named body of data with a hierarchy of levels beneath it.
type DataSet struct{ ent.Schema }

func (DataSet) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("description").Optional().MaxLen(1000),
	}
}

func (DataSet) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("nodes", HierarchyNode.Type).
			Annotations(entgql.RelayConnection(), entsql.OnDelete(entsql.Cascade)),
	}
}

func (DataSet) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("account_id", "name").Unique().StorageKey("uniq_data_sets_name"),
	}
}

func (DataSet) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (DataSet) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.QueryField(), entgql.RelayConnection()}
}

// TreeMixin is the shape shared by a data set's hierarchy and the organisation tree.
// path lists the ids from the root down to the node itself ("/3/17/42/"), so "is A
// within B" is a prefix test that one indexed SQL predicate answers.
type TreeMixin struct{ mixin.Schema }

func (TreeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.Int("parent_id").Optional().Nillable().Immutable(),
		field.String("path").Default("").MaxLen(700),
		field.Int("depth").Default(0).NonNegative().
			Annotations(entgql.OrderField("DEPTH")),
	}
}

// HierarchyNode is one level of a data set's hierarchy (for instance a region).
type HierarchyNode struct{ ent.Schema }

func (HierarchyNode) Fields() []ent.Field {
	return []ent.Field{
		field.Int("data_set_id").Immutable(),
	}
}

func (HierarchyNode) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("data_set", DataSet.Type).Ref("nodes").Field("data_set_id").Unique().Required().Immutable(),
		edge.To("children", HierarchyNode.Type).
			From("parent").Field("parent_id").Unique().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

func (HierarchyNode) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("data_set_id", "path"),
		index.Fields("parent_id"),
	}
}

func (HierarchyNode) Mixin() []ent.Mixin {
	return []ent.Mixin{TenantMixin{}, TreeMixin{}, TimeMixin{}}
}

func (HierarchyNode) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.RelayConnection()}
}

// OrgUnit is a unit of the account's own organisation tree.
type OrgUnit struct{ ent.Schema }

func (OrgUnit) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("children", OrgUnit.Type).
			From("parent").Field("parent_id").Unique().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

func (OrgUnit) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("account_id", "path"),
		index.Fields("parent_id"),
	}
}

func (OrgUnit) Mixin() []ent.Mixin {
	return []ent.Mixin{TenantMixin{}, TreeMixin{}, TimeMixin{}}
}

func (OrgUnit) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.QueryField(), entgql.RelayConnection()}
}
