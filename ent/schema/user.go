package schema

import (
	"context"
	"errors"
	"net/mail"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"latchkey/ent/privacy"
	"latchkey/internal/viewer"

	gen "latchkey/ent"
	"latchkey/ent/hook"
)

// User is a person in one account.
type User struct{ ent.Schema }

// validEmail accepts a bare address (no display name).
func validEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s, "@") {
		return errors.New("is not a valid email address")
	}
	return nil
}

func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_name").NotEmpty().MaxLen(150).
			Annotations(entgql.OrderField("USER_NAME")),
		// user_name_key is user_name folded to lower case: uniqueness is case-insensitive
		// on every store without depending on a collation.
		field.String("user_name_key").MaxLen(150).
			Annotations(entgql.Skip()),
		field.String("email").MaxLen(254).Validate(validEmail).
			Annotations(entgql.OrderField("EMAIL")),
		field.String("given_name").Optional().MaxLen(100),
		field.String("family_name").Optional().MaxLen(100).
			Annotations(entgql.OrderField("FAMILY_NAME")),
		field.String("display_name").Optional().MaxLen(200).
			Annotations(entgql.OrderField("DISPLAY_NAME")),
		field.String("title").Optional().MaxLen(200),
		field.String("department").Optional().MaxLen(200),
		field.String("location").Optional().MaxLen(200).
			Annotations(entgql.OrderField("LOCATION")),
		field.String("employee_number").Optional().MaxLen(100),
		field.String("phone").Optional().MaxLen(50),
		field.String("locale").Optional().MaxLen(35),
		field.String("external_id").Optional().Nillable().MaxLen(255),
		field.Bool("read_only").Default(false),
		field.Bool("active").Default(true),
		field.Enum("status").Values("INVITED", "ACTIVE", "SUSPENDED").Default("INVITED").
			Annotations(entgql.OrderField("STATUS")),
		field.Enum("source").Values(sourceValues...).Default("MANUAL"),
		field.Int("manager_id").Optional().Nillable(),
		field.Int("identity_id").Optional().Nillable().
			Annotations(entgql.Skip()),
		field.Time("last_login_at").SchemaType(preciseTime).Optional().Nillable(),
	}
}

func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("identity", Identity.Type).Field("identity_id").Unique().
			Annotations(entgql.Skip(), entsql.OnDelete(entsql.SetNull)),
		edge.To("reports", User.Type).
			From("manager").Field("manager_id").Unique().
			Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.From("groups", Group.Type).Ref("users"),
		edge.To("roles", Role.Type),
		// The user's linked types; the join table is named for what a row is: a link.
		edge.To("types", UserType.Type).
			StorageKey(edge.Table("user_type_links"), edge.Columns("user_id", "user_type_id")),
		// The user's stored grants. Rights copied from roles are mostly held per
		// application (RoleCopy), so a filter on these rows alone would miss them:
		// filter by withRight or withRole instead (User.grants lists both).
		edge.To("grants", UserGrant.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipWhereInput)),
		edge.From("computers", Computer.Type).Ref("owner"),
	}
}

func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("account_id", "user_name_key").Unique().StorageKey("uniq_users_user_name"),
		// GraphQL's users(where: {userName: …}) compares the name as written, which
		// the folded key above cannot serve: at 100k users each lookup scanned them.
		index.Fields("account_id", "user_name"),
		index.Fields("account_id", "email"),
		index.Fields("account_id", "external_id"),
		index.Fields("account_id", "location"),
		index.Fields("account_id", "family_name"),
		index.Fields("account_id", "status"),
		// Bulk operations and bulkSummary select users by department ("all of
		// Claims"); without it each selection scanned every user of every account.
		index.Fields("account_id", "department"),
		index.Fields("manager_id"),
		index.Fields("identity_id"),
	}
}

// Hooks keep user_name_key in step with user_name, whoever writes it.
func (User) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(func(next ent.Mutator) ent.Mutator {
			return hook.UserFunc(func(ctx context.Context, m *gen.UserMutation) (ent.Value, error) {
				if name, ok := m.UserName(); ok {
					m.SetUserNameKey(strings.ToLower(name))
				}
				return next.Mutate(ctx, m)
			})
		}, ent.OpCreate|ent.OpUpdate|ent.OpUpdateOne),
	}
}

// Policy confines restricted viewers to their viewable groups' data (SPEC §2.4).
func (User) Policy() ent.Policy {
	rule := viewer.VisibilityRule(viewer.VisibleUsers)
	return privacy.Policy{Query: privacy.QueryPolicy{rule}, Mutation: privacy.MutationPolicy{rule}}
}

func (User) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}, TimeMixin{}} }

func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		tableOptions(),
		entgql.QueryField(),
		entgql.RelayConnection(),
	}
}
