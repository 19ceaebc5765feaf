package seed_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"

	"latchkey/ent/schema/enums"
	"latchkey/ent/user"
	"latchkey/ent/usergrant"
	"latchkey/internal/access"
	"latchkey/internal/bench"
	"latchkey/internal/seed"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
	"latchkey/internal/viewer"
)

// The bench command finds what it measures by the seed's conventions.
func TestConventionsMatchTheBench(t *testing.T) {
	if seed.Subject != bench.DefaultSubject || seed.Selection != bench.DefaultSelection {
		t.Fatalf("seed (%s, %s) and bench (%s, %s) disagree", seed.Subject, seed.Selection, bench.DefaultSubject, bench.DefaultSelection)
	}
}

func TestSeed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		const n = 1000
		rep, err := seed.Run(ctx, st, seed.Options{Account: "acme", Users: n})
		if err != nil {
			t.Fatal(err)
		}
		// The catalogue has SPEC §5's shape whatever the number of users.
		for _, c := range []struct {
			what      string
			got, want int
		}{
			{"users", rep.Users, n + 2},
			{"selection", rep.SelectionUsers, n / 5},
			{"groups", rep.Groups, n / 20},
			{"rights", rep.Rights, 500},
			{"roles", rep.Roles, 100},
			{"user types", rep.UserTypes, 50},
			{"data sets", rep.DataSets, 50},
			{"hierarchy nodes", rep.HierarchyNodes, 10_000},
		} {
			if c.got != c.want {
				t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
			}
		}
		// Mass rows in the proportions of a real account.
		if rep.Memberships < n || rep.UserGrants+rep.CopiedGrants < 10*n || rep.TypeLinks < n/2 || rep.RoleAssignments < n/2 {
			t.Errorf("too few rows: %+v", rep)
		}

		sys := viewer.System(ctx, rep.AccountID, "test")
		c := st.Client
		// The subject: three types by hand and 200 direct grants, and rights to show.
		subj, err := c.User.Query().Where(user.UserName(seed.Subject)).Only(sys)
		if err != nil {
			t.Fatal(err)
		}
		direct, err := c.UserGrant.Query().Where(usergrant.UserID(subj.ID), usergrant.SourceEQ(enums.SourceManual)).Count(sys)
		if err != nil || direct != 200 {
			t.Errorf("subject's direct grants: %d, %v; want 200", direct, err)
		}
		if types, err := subj.QueryTypes().Count(sys); err != nil || types != 3 {
			t.Errorf("subject's types: %d, %v; want 3", types, err)
		}
		h, err := access.LoadHolder(sys, c, subj.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		paths := map[access.PathKind]bool{}
		for _, er := range h.EffectiveRights() {
			for _, p := range er.Paths {
				paths[p.Kind] = true
			}
		}
		for _, k := range []access.PathKind{access.PathDirect, access.PathType} {
			if !paths[k] {
				t.Errorf("the subject holds no right by path %s (has %v)", k, paths)
			}
		}

		// The operator is an Admin: every right on all data.
		op, err := c.User.Query().Where(user.UserName(seed.Operator)).Only(sys)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := c.DataSet.Query().FirstID(sys)
		if err != nil {
			t.Fatal(err)
		}
		d, err := access.Check(sys, c, op.ID, "claims.edit001", ds, 0, false)
		if err != nil || !d.Allowed {
			t.Errorf("operator may not users.admin: %+v, %v", d, err)
		}

		// Copied role grants look exactly like the engine's: every holder of a
		// role holds each of its rights by that role.
		if rep.CopiedGrants == 0 {
			t.Fatalf("no rights copied from roles: %+v", rep)
		}
		var missing int
		rows, err := st.DB.QueryContext(ctx, `SELECT COUNT(*) FROM user_roles ur JOIN role_rights rr ON rr.role_id = ur.role_id
			JOIN users u ON u.id = ur.user_id AND u.account_id = ?
			WHERE NOT EXISTS (SELECT 1 FROM user_grants g WHERE g.user_id = ur.user_id AND g.right_id = rr.right_id
				AND g.source_key = `+concat(st, "'ROLE:'", "ur.role_id")+`)
			AND NOT EXISTS (SELECT 1 FROM user_role_copies uc JOIN role_copies rc ON rc.id = uc.role_copy_id
				JOIN role_copy_rights cr ON cr.role_copy_id = rc.id
				WHERE uc.user_id = ur.user_id AND rc.role_id = ur.role_id AND cr.right_id = rr.right_id)`, rep.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			if err := rows.Scan(&missing); err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
		if missing != 0 {
			t.Errorf("%d rights of applied roles were not copied", missing)
		}

		// Every type link has a source, as the engine keeps them.
		var unsourced int
		if err := st.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM user_type_links l JOIN users u ON u.id = l.user_id AND u.account_id = ?
			WHERE NOT EXISTS (SELECT 1 FROM type_link_sources s WHERE s.user_id = l.user_id AND s.user_type_id = l.user_type_id)`,
			rep.AccountID).Scan(&unsourced); err != nil || unsourced != 0 {
			t.Errorf("type links without a source: %d, %v", unsourced, err)
		}

		// A working account is not seeded again, and nothing is written.
		_, err = seed.Run(ctx, st, seed.Options{Account: "acme", Users: n})
		if !errors.Is(err, seed.ErrAccountInUse) {
			t.Fatalf("second seed: %v, want ErrAccountInUse", err)
		}
		if got, _ := c.User.Query().Count(sys); got != n+2 {
			t.Errorf("after the refused seed: %d users, want %d", got, n+2)
		}
	})
}

func concat(st *store.Store, a, b string) string {
	if st.Dialect == "mysql" {
		return "CONCAT(" + a + ", " + b + ")"
	}
	return "(" + a + " || " + b + ")"
}

// TestScale seeds a full-size account into the database named by
// LATCHKEY_SEED_DATABASE (default: a temporary SQLite file) when
// LATCHKEY_SEED_USERS is set, and logs how long it took:
//
//	LATCHKEY_SEED_USERS=100000 go test ./internal/seed -run TestScale -v -timeout 30m
func TestScale(t *testing.T) {
	users, _ := strconv.Atoi(os.Getenv("LATCHKEY_SEED_USERS"))
	if users == 0 {
		t.Skip("LATCHKEY_SEED_USERS is not set")
	}
	var st *store.Store
	if url := os.Getenv("LATCHKEY_SEED_DATABASE"); url != "" {
		var err error
		if st, err = store.Open(context.Background(), url); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
	} else {
		st = storetest.SQLite(t)
	}
	rep, err := seed.Run(context.Background(), st, seed.Options{Account: "scale", Users: users, Log: logWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}
