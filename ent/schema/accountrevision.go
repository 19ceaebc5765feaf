package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AccountRevision counts the changes to an account: every audited change bumps it
// in its own transaction, so a cache keyed by (account, revision) is correct on any
// number of replicas over one database. It is a table of its own, not a column of
// accounts, because every insert of an account's records takes a shared lock on the
// account row (its foreign key) that a bump there would have to wait for.
type AccountRevision struct{ ent.Schema }

func (AccountRevision) Fields() []ent.Field {
	return []ent.Field{
		field.Int("account_id").Immutable(),
		field.Int64("revision").Default(0),
	}
}

func (AccountRevision) Indexes() []ent.Index {
	return []ent.Index{index.Fields("account_id").Unique()}
}

func (AccountRevision) Annotations() []schema.Annotation {
	return []schema.Annotation{tableOptions(), entgql.Skip()}
}
