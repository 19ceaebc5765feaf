package access_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	gen "latchkey/ent"
	"latchkey/internal/access"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// TestRoleCopiesAgainstModel runs random sequences of what touches copied rights —
// applying a role to some users, revoking a right, editing a role's rights,
// deleting a right — and after every step compares each user's direct grants with
// a model of SPEC §2.1: one path per (right, source), created by the first
// application that copied it, removed by a revocation or the right's deletion.
func TestRoleCopiesAgainstModel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		c := st.Client
		ctx := newAccount(t, c, "acme")
		rnd := rand.New(rand.NewPCG(6, 2026))
		var users []*gen.User
		for i := range 4 {
			users = append(users, newUser(t, ctx, c, fmt.Sprintf("u%d", i)))
		}
		keys := []string{"m.a", "m.b", "m.c", "m.d", "m.e"}
		alive := map[string]bool{}
		for _, k := range keys {
			if _, err := access.CreateRight(ctx, c, access.CreateRightInput{Key: k, Name: k, Kind: "READ"}); err != nil {
				t.Fatal(err)
			}
			alive[k] = true
		}
		some := func() []string {
			out := []string{} // not nil: an update with nil rights keeps the role's
			for _, k := range keys {
				if alive[k] && rnd.IntN(2) == 0 {
					out = append(out, k)
				}
			}
			return out
		}
		roleRights := map[int][]string{}
		var roles []*gen.Role
		for i := range 2 {
			rs := some()
			r, err := access.CreateRole(ctx, c, access.CreateRoleInput{Name: fmt.Sprintf("R%d", i), Rights: rs})
			if err != nil {
				t.Fatal(err)
			}
			roles, roleRights[r.ID] = append(roles, r), rs
		}

		type path struct{ key, source string }
		model := map[int]map[path]int{} // user → path → the step that created it
		for _, u := range users {
			model[u.ID] = map[path]int{}
		}
		var started, ended []time.Time
		for step := range 80 {
			started = append(started, time.Now())
			var did string
			switch op := rnd.IntN(10); {
			case op < 5: // apply a role to some users
				r := roles[rnd.IntN(len(roles))]
				var ids []int
				for _, u := range users {
					if rnd.IntN(2) == 0 {
						ids = append(ids, u.ID)
					}
				}
				if len(ids) == 0 {
					ids = []int{users[0].ID}
				}
				if _, err := access.ApplyRoleTo(ctx, c, access.UserSelection{UserIDs: ids}, r.ID, false); err != nil {
					t.Fatal(err)
				}
				for _, id := range ids {
					for _, k := range roleRights[r.ID] {
						p := path{k, "ROLE:" + itoa(r.ID)}
						if _, ok := model[id][p]; !ok {
							model[id][p] = step
						}
					}
				}
				did = fmt.Sprintf("apply %s %v to %v", r.Name, roleRights[r.ID], ids)
			case op < 8: // revoke a right from one user
				u, k := users[rnd.IntN(len(users))], keys[rnd.IntN(len(keys))]
				if !alive[k] {
					break
				}
				if _, err := access.RevokeRights(ctx, c, access.One(u.ID), []access.GrantInput{{Right: &k}}, false); err != nil {
					t.Fatal(err)
				}
				for p := range model[u.ID] {
					if p.key == k {
						delete(model[u.ID], p)
					}
				}
				did = fmt.Sprintf("revoke %s from %d", k, u.ID)
			case op < 9: // edit a role's rights: nothing copied changes
				r := roles[rnd.IntN(len(roles))]
				rs := some()
				if _, _, err := access.UpdateRole(ctx, c, access.UpdateRoleInput{ID: r.ID, Rights: rs}); err != nil {
					t.Fatal(err)
				}
				roleRights[r.ID] = rs
				did = fmt.Sprintf("edit %s to %v", r.Name, rs)
			default: // delete a right: every grant of it goes
				k := keys[rnd.IntN(len(keys))]
				if !alive[k] || step < 40 {
					break
				}
				rt, err := c.Right.Query().All(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rt {
					if r.Key == k {
						if err := access.DeleteRight(ctx, c, r.ID); err != nil {
							t.Fatal(err)
						}
					}
				}
				alive[k] = false
				for _, paths := range model {
					for p := range paths {
						if p.key == k {
							delete(paths, p)
						}
					}
				}
				for id, rs := range roleRights {
					roleRights[id] = slices.DeleteFunc(rs, func(s string) bool { return s == k })
				}
				did = "delete " + k
			}
			ended = append(ended, time.Now())
			for _, u := range users {
				got := map[path]time.Time{}
				for k, grants := range directGrants(t, ctx, c, u) {
					for _, g := range grants {
						p := path{k, g.SourceKey}
						if _, dup := got[p]; dup {
							t.Fatalf("step %d (%s): user %d holds %v twice", step, did, u.ID, p)
						}
						got[p] = g.GrantedAt
					}
				}
				if len(got) != len(model[u.ID]) {
					t.Fatalf("step %d (%s): user %d holds %v, want %v", step, did, u.ID, got, model[u.ID])
				}
				for p, created := range model[u.ID] {
					at, ok := got[p]
					// The path's date is that of the step that created it (a
					// millisecond either way for the store's rounding).
					if !ok || at.Before(started[created].Add(-time.Millisecond)) || at.After(ended[created].Add(time.Millisecond)) {
						t.Fatalf("step %d (%s): user %d's %v dated %v (held %v), want from step %d [%v, %v]",
							step, did, u.ID, p, at, ok, created, started[created], ended[created])
					}
				}
			}
		}
	})
}
