// Package audit writes the append-only audit log (SPEC §2.10). A hook on every
// account-scoped type records each change in the transaction that makes it, with
// the record before and after; domain code records its own events for changes that
// are more than one record (bulk operations, logins).
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"entgo.io/ent"
	"entgo.io/ent/dialect"

	gen "latchkey/ent"
	"latchkey/ent/auditevent"
	"latchkey/internal/viewer"
)

// Event is one entry for the log.
type Event struct {
	Action     string // "<type>.<verb>", such as "user.delete" or "role.reapply"
	TargetType string
	TargetID   int
	Before     any
	After      any
}

type mutationClient interface {
	Client() *gen.Client
}

type skipKey struct{}

// WithoutHook returns ctx in which the hook records nothing: for domain code that
// records one richer event itself instead of one per row.
func WithoutHook(ctx context.Context) context.Context {
	return context.WithValue(ctx, skipKey{}, true)
}

// Record writes events on client (the caller's transaction).
func Record(ctx context.Context, client *gen.Client, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	v := viewer.FromContext(ctx)
	if v == nil {
		return fmt.Errorf("audit: no viewer in context")
	}
	builders := make([]*gen.AuditEventCreate, 0, len(events))
	for _, e := range events {
		b := client.AuditEvent.Create().
			SetActorKind(auditevent.ActorKind(v.Kind)).
			SetActor(v.Actor).
			SetAction(e.Action).
			SetTargetType(e.TargetType).
			SetOperation(viewer.Operation(ctx)).
			SetRequestID(viewer.RequestID(ctx))
		if v.ActorID != 0 {
			b.SetActorID(v.ActorID)
		}
		if e.TargetID != 0 {
			b.SetTargetID(e.TargetID)
		}
		if raw, err := marshal(e.Before); err != nil {
			return err
		} else if raw != nil {
			b.SetBefore(raw)
		}
		if raw, err := marshal(e.After); err != nil {
			return err
		} else if raw != nil {
			b.SetAfter(raw)
		}
		builders = append(builders, b)
	}
	// Batches keep each INSERT under SQLite's limit on bound variables.
	for batch := range slices.Chunk(builders, 500) {
		if err := client.AuditEvent.CreateBulk(batch...).Exec(ctx); err != nil {
			return err
		}
	}
	return BumpRevision(ctx, client, v.AccountID)
}

// BumpRevision counts a change to the account, in the caller's transaction. Every
// change is audited, so recording an event bumps it; caches keyed by the revision
// (internal/access) then miss on every replica once the change commits.
func BumpRevision(ctx context.Context, client *gen.Client, accountID int) error {
	stmt := `INSERT INTO account_revisions (account_id, revision) VALUES (?, 1)
		ON CONFLICT (account_id) DO UPDATE SET revision = revision + 1`
	if client.Dialect() == dialect.MySQL {
		stmt = `INSERT INTO account_revisions (account_id, revision) VALUES (?, 1)
			ON DUPLICATE KEY UPDATE revision = revision + 1`
	}
	if _, err := client.ExecContext(ctx, stmt, accountID); err != nil {
		return fmt.Errorf("audit: bumping the account revision: %w", err)
	}
	return nil
}

func marshal(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return raw, nil
}

// Hook records every create, update and delete of the type it is attached to.
func Hook() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if m.Type() == gen.TypeAuditEvent || ctx.Value(skipKey{}) != nil || viewer.FromContext(ctx) == nil {
				return next.Mutate(ctx, m)
			}
			mc, ok := m.(mutationClient)
			if !ok {
				return nil, fmt.Errorf("audit: %T has no client", m)
			}
			client := mc.Client()
			ids, err := targetIDs(ctx, m)
			if err != nil {
				return nil, err
			}
			var before map[int]any
			if len(ids) > 0 {
				if before, err = client.RecordsByIDs(ctx, m.Type(), ids); err != nil {
					return nil, err
				}
			}
			edges := edgeChanges(m)
			value, err := next.Mutate(ctx, m)
			if err != nil {
				return nil, err
			}
			action := strings.ToLower(m.Type()) + "." + opName(m.Op())
			var events []Event
			switch {
			case m.Op().Is(ent.OpCreate):
				events = append(events, Event{Action: action, TargetType: m.Type(), TargetID: idOf(value), After: withEdges(value, edges)})
			case m.Op().Is(ent.OpUpdateOne):
				events = append(events, Event{Action: action, TargetType: m.Type(), TargetID: idOf(value), Before: withEdges(before[idOf(value)], nil), After: withEdges(value, edges)})
			default: // Update, Delete, DeleteOne: one event per row, with the row as it was
				var after any
				if m.Op().Is(ent.OpUpdate) {
					after = withEdges(changedFields(m), edges)
				}
				for _, id := range ids {
					if rec, ok := before[id]; ok {
						events = append(events, Event{Action: action, TargetType: m.Type(), TargetID: id, Before: withEdges(rec, nil), After: after})
					}
				}
			}
			if err := Record(ctx, client, events...); err != nil {
				return nil, err
			}
			return value, nil
		})
	}
}

func opName(op ent.Op) string {
	switch {
	case op.Is(ent.OpCreate):
		return "create"
	case op.Is(ent.OpUpdate), op.Is(ent.OpUpdateOne):
		return "update"
	default:
		return "delete"
	}
}

// targetIDs are the rows an update or delete will touch, read before it runs.
func targetIDs(ctx context.Context, m ent.Mutation) ([]int, error) {
	if m.Op().Is(ent.OpCreate) {
		return nil, nil
	}
	if m.Op().Is(ent.OpUpdateOne) || m.Op().Is(ent.OpDeleteOne) {
		if idm, ok := m.(interface{ ID() (int, bool) }); ok {
			if id, ok := idm.ID(); ok {
				return []int{id}, nil
			}
		}
	}
	idsm, ok := m.(interface {
		IDs(context.Context) ([]int, error)
	})
	if !ok {
		return nil, fmt.Errorf("audit: %T cannot list its rows", m)
	}
	return idsm.IDs(ctx)
}

// idOf is the id of a record a mutation returned (every generated entity has an
// int field ID).
func idOf(v ent.Value) int {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		return 0
	}
	if f := rv.FieldByName("ID"); f.IsValid() && f.CanInt() {
		return int(f.Int())
	}
	return 0
}

// edgeChange lists the ids an update linked and unlinked on one edge.
type edgeChange struct {
	Added   []ent.Value `json:"added,omitempty"`
	Removed []ent.Value `json:"removed,omitempty"`
	Cleared bool        `json:"cleared,omitempty"`
}

func edgeChanges(m ent.Mutation) map[string]edgeChange {
	out := map[string]edgeChange{}
	for _, e := range m.AddedEdges() {
		if e == "account" {
			continue
		}
		c := out[e]
		c.Added = m.AddedIDs(e)
		out[e] = c
	}
	for _, e := range m.RemovedEdges() {
		c := out[e]
		c.Removed = m.RemovedIDs(e)
		out[e] = c
	}
	for _, e := range m.ClearedEdges() {
		c := out[e]
		c.Cleared = true
		out[e] = c
	}
	return out
}

func changedFields(m ent.Mutation) map[string]any {
	fields := m.Fields()
	sort.Strings(fields)
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		v, _ := m.Field(f)
		out[f] = v
	}
	return out
}

// withEdges returns the record as JSON, with the edge changes under "edge_changes"
// (and without ent's empty "edges" of eager loading).
func withEdges(record any, edges map[string]edgeChange) any {
	if record == nil {
		return nil
	}
	raw, err := json.Marshal(record)
	if err != nil {
		return record
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) != nil {
		return record
	}
	delete(obj, "edges")
	if len(edges) > 0 {
		obj["edge_changes"] = edges
	}
	return obj
}
