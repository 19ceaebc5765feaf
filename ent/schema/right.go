package schema

import (
	"regexp"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Right is an application right in the account's catalogue.
type Right struct{ ent.Schema }

func (Right) Fields() []ent.Field {
	return []ent.Field{
		// key is the stable name clients and checks use, such as "users.admin".
		field.String("key").NotEmpty().MaxLen(100).Immutable().
			Match(regexp.MustCompile(`^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$`)).
			Annotations(entgql.OrderField("KEY")),
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("application").Default("Administration").MaxLen(100).
			Annotations(entgql.OrderField("APPLICATION")),
		field.String("description").Optional().MaxLen(1000),
		field.Enum("kind").Values("READ", "WRITE"),
		field.Bool("built_in").Default(false).Immutable(),
	}
}

func (Right) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("roles", Role.Type).Ref("rights"),
		// The role copies holding the right: a many-to-many edge needs both ends.
		edge.From("role_copies", RoleCopy.Type).Ref("rights").Annotations(entgql.Skip()),
	}
}

func (Right) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("account_id", "key").Unique().StorageKey("uniq_rights_key"),
	}
}

func (Right) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (Right) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.QueryField(), entgql.RelayConnection()}
}
