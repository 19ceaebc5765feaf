package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"

	"latchkey/ent/schema/enums"
)

// GrantTargetMixin is what a grant points at. Which columns are set follows from
// kind; grant_key encodes kind and target in one string ("R:12", "D:3:45", "C:12:*")
// so uniqueness and set-based inserts need no NULL-aware comparisons.
type GrantTargetMixin struct{ mixin.Schema }

func (GrantTargetMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("kind").GoType(enums.GrantKind("")).Immutable().
			Annotations(entgql.Type("GrantKind")),
		field.Int("right_id").Optional().Nillable().Immutable(),
		field.Int("data_set_id").Optional().Nillable().Immutable(),
		field.Int("node_id").Optional().Nillable().Immutable(),
		field.Bool("all_data_sets").Default(false).Immutable(),
		field.Int("org_unit_id").Optional().Nillable().Immutable(),
		field.Int("dashboard_id").Optional().Nillable().Immutable(),
		field.Int("group_id").Optional().Nillable().Immutable(),
		field.String("grant_key").MaxLen(100).Immutable().
			Annotations(entgql.Skip()),
	}
}

func (GrantTargetMixin) Edges() []ent.Edge {
	cascade := entsql.OnDelete(entsql.Cascade)
	return []ent.Edge{
		edge.To("right", Right.Type).Field("right_id").Unique().Immutable().Annotations(cascade),
		edge.To("data_set", DataSet.Type).Field("data_set_id").Unique().Immutable().Annotations(cascade),
		edge.To("node", HierarchyNode.Type).Field("node_id").Unique().Immutable().Annotations(cascade),
		edge.To("org_unit", OrgUnit.Type).Field("org_unit_id").Unique().Immutable().Annotations(cascade),
		edge.To("dashboard", Dashboard.Type).Field("dashboard_id").Unique().Immutable().Annotations(cascade),
		edge.To("group", Group.Type).Field("group_id").Unique().Immutable().Annotations(cascade),
	}
}

// UserGrant is a grant a user holds directly, with its provenance. A user holding the
// same grant through several sources (by hand, and copied from role R) has one row
// per source, so each path can be shown and none is lost when another is removed.
type UserGrant struct{ ent.Schema }

func (UserGrant) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Enum("source").GoType(enums.GrantSource("")).Default(string(enums.SourceManual)).Immutable().
			Annotations(entgql.Type("GrantSource")),
		// The role a ROLE grant was copied from. A plain column, not a foreign key:
		// deleting the role must not change what was copied (SPEC §2.1).
		field.Int("source_role_id").Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.String("source_role_name").Optional().MaxLen(200).Immutable(),
		// source_key is source plus role id ("MANUAL", "ROLE:7"): one row per path.
		field.String("source_key").MaxLen(40).Immutable().
			Annotations(entgql.Skip()),
		field.Int("granted_by_id").Optional().Nillable().Immutable(),
		field.Time("granted_at").SchemaType(preciseTime).Default(time.Now).Immutable(),
	}
}

func (UserGrant) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("grants").Field("user_id").Unique().Required().Immutable(),
		edge.To("granted_by", User.Type).Field("granted_by_id").Unique().Immutable().
			Annotations(entsql.OnDelete(entsql.SetNull)),
	}
}

func (UserGrant) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "grant_key", "source_key").Unique().StorageKey("uniq_user_grants_path"),
		index.Fields("account_id"),
		setOnly("right_id"),
		// Who has access to a data set (whoCan, the access side of every set-wise
		// question) is read from this index alone; it also serves the data set's
		// foreign key.
		setOnly("data_set_id", "kind", "node_id", "user_id"),
		setOnly("node_id"),
		setOnly("org_unit_id"),
		setOnly("dashboard_id"),
		setOnly("group_id"),
		setOnly("granted_by_id"),
		setOnly("source_role_id"),
	}
}

// setOnly indexes an optional column of user_grants (followed by more columns, if
// given) where it is set. A grant sets
// one or two of them (its kind's target, its role), and a bulk change writes hundreds
// of thousands of grants, so on SQLite each grant row is written only to the indexes
// of the columns it sets: a partial index serves every lookup by value (col = ?,
// col IN …, and the foreign keys' cascades) as a full one does. MySQL has no partial
// indexes and ignores the condition.
func setOnly(column string, more ...string) ent.Index {
	return index.Fields(append([]string{column}, more...)...).Annotations(entsql.IndexWhere(column + " IS NOT NULL"))
}

func (UserGrant) Mixin() []ent.Mixin {
	return []ent.Mixin{TenantMixin{}, GrantTargetMixin{}}
}

func (UserGrant) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions()}
}

// UserTypeGrant is a data-set, organisation or company-specific grant that a user
// type holds for every user linked to it.
type UserTypeGrant struct{ ent.Schema }

func (UserTypeGrant) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_type_id").Immutable(),
	}
}

func (UserTypeGrant) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user_type", UserType.Type).Ref("grants").Field("user_type_id").Unique().Required().Immutable(),
	}
}

func (UserTypeGrant) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_type_id", "grant_key").Unique().StorageKey("uniq_user_type_grants_key"),
		index.Fields("account_id"),
		index.Fields("right_id"),
		index.Fields("data_set_id"),
		index.Fields("node_id"),
		index.Fields("org_unit_id"),
		index.Fields("dashboard_id"),
		index.Fields("group_id"),
	}
}

func (UserTypeGrant) Mixin() []ent.Mixin {
	return []ent.Mixin{TenantMixin{}, GrantTargetMixin{}, TimeMixin{}}
}

func (UserTypeGrant) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions()}
}
