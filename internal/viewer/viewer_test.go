package viewer_test

import (
	"context"
	"errors"
	"testing"

	"latchkey/ent/auditevent"
	"latchkey/ent/privacy"
	"latchkey/ent/user"
	"latchkey/internal/access"
	"latchkey/internal/problem"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
	"latchkey/internal/viewer"
)

// TestTenantRules checks isolation where it is enforced — the ent privacy rules and
// hooks — independently of any API: no viewer sees nothing, and one account's
// viewer neither reads, changes, nor links another account's records.
func TestTenantRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		client := st.Client
		_, a, err := access.CreateAccount(context.Background(), client, "a")
		if err != nil {
			t.Fatal(err)
		}
		_, b, err := access.CreateAccount(context.Background(), client, "b")
		if err != nil {
			t.Fatal(err)
		}
		alice, err := client.User.Create().SetUserName("alice").SetEmail("alice@a.test").Save(a)
		if err != nil {
			t.Fatal(err)
		}
		bob, err := client.User.Create().SetUserName("bob").SetEmail("bob@b.test").Save(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.User.Query().All(context.Background()); !errors.Is(err, privacy.Deny) {
			t.Errorf("query without a viewer: %v", err)
		}
		if n, _ := client.User.Query().Count(a); n != 1 {
			t.Errorf("account a sees %d users", n)
		}
		if _, err := client.User.Get(a, bob.ID); problem.From(err).Code != problem.NotFound {
			t.Errorf("a reads b's user: %v", err)
		}
		if err := client.User.UpdateOneID(bob.ID).SetTitle("x").Exec(a); problem.From(err).Code != problem.NotFound {
			t.Errorf("a updates b's user: %v", err)
		}
		if n, err := client.User.Update().Where(user.UserName("bob")).SetTitle("x").Save(a); n != 0 || err != nil {
			t.Errorf("a's bulk update reached b: %d %v", n, err)
		}
		if n, _ := client.User.Delete().Exec(a); n != 1 {
			t.Errorf("a's bulk delete deleted %d", n)
		}
		if _, err := client.Group.Create().SetName("g").AddUserIDs(bob.ID).Save(a); problem.From(err).Code != problem.NotFound {
			t.Errorf("a links b's user into a group: %v", err)
		}
		if _, err := client.User.Create().SetUserName("mallory").SetEmail("m@a.test").SetAccountID(mustAccount(t, b)).Save(a); !errors.Is(err, privacy.Deny) {
			t.Errorf("a creates a user in b: %v", err)
		}
		if got, _ := client.User.Get(b, bob.ID); got == nil || got.Title != "" {
			t.Errorf("b's user changed: %+v", got)
		}
		_ = alice
		// The audit log is append-only.
		if err := client.AuditEvent.Update().Where(auditevent.Action("user.create")).Exec(a); !errors.Is(err, privacy.Deny) {
			t.Errorf("audit update: %v", err)
		}
		if _, err := client.AuditEvent.Delete().Where(auditevent.Action("user.create")).Exec(a); !errors.Is(err, privacy.Deny) {
			t.Errorf("audit delete: %v", err)
		}
		if n, _ := client.AuditEvent.Query().Where(auditevent.Action("user.create")).Count(a); n != 1 {
			t.Errorf("a's audit has %d user creations", n)
		}
	})
}

func mustAccount(t *testing.T, ctx context.Context) int {
	t.Helper()
	return viewer.FromContext(ctx).AccountID
}
