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
)

// RoleCopy is one application of a role (SPEC §2.1): the role's rights as they were
// then, who applied it and when. The users it was applied to hold those rights as
// direct grants (source ROLE) through UserRoleCopy rows: applying a role of 10
// rights to 20,000 users writes 20,000 rows instead of 200,000 user_grants.
// Editing or deleting the role later changes nothing here; revoking one of the
// rights from a user turns that user's copy back into user_grants rows, less the
// right (access.removeGrants).
type RoleCopy struct{ ent.Schema }

func (RoleCopy) Fields() []ent.Field {
	return []ent.Field{
		// A plain column, not a foreign key: deleting the role must not change what
		// was copied.
		field.Int("role_id").Immutable(),
		field.String("role_name").MaxLen(200).Immutable(),
		field.Int("granted_by_id").Optional().Nillable().Immutable(),
		field.Time("granted_at").SchemaType(preciseTime).Default(time.Now).Immutable(),
	}
}

func (RoleCopy) Edges() []ent.Edge {
	return []ent.Edge{
		// Deleting a right deletes every grant of it, copies included.
		edge.To("rights", Right.Type).Immutable(),
		edge.To("granted_by", User.Type).Field("granted_by_id").Unique().Immutable().
			Annotations(entsql.OnDelete(entsql.SetNull)),
	}
}

func (RoleCopy) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

func (RoleCopy) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.Skip()}
}

// UserRoleCopy says that a role copy was applied to a user: the user holds each of
// the copy's rights directly.
type UserRoleCopy struct{ ent.Schema }

func (UserRoleCopy) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Int("role_copy_id").Immutable(),
	}
}

func (UserRoleCopy) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("role_copy", RoleCopy.Type).Field("role_copy_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

func (UserRoleCopy) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "role_copy_id").Unique(),
		index.Fields("role_copy_id"),
	}
}

func (UserRoleCopy) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

func (UserRoleCopy) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.Skip()}
}
