package access_test

import (
	"context"
	"testing"
	"time"

	gen "latchkey/ent"
	"latchkey/ent/schema/enums"
	"latchkey/ent/usergrant"
	"latchkey/internal/access"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// directGrants is User.grants for u: right key → the paths (source key and date)
// by which u holds it directly.
func directGrants(t *testing.T, ctx context.Context, c *gen.Client, u *gen.User) map[string][]*gen.UserGrant {
	t.Helper()
	stored, err := c.UserGrant.Query().Where(usergrant.UserID(u.ID)).WithRight().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	grants, err := access.WithCopiedGrants(ctx, c, u, stored)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*gen.UserGrant{}
	for _, g := range grants {
		if g.Edges.Right == nil {
			t.Fatalf("grant %d has no right loaded", g.ID)
		}
		out[g.Edges.Right.Key] = append(out[g.Edges.Right.Key], g)
	}
	return out
}

// TestRoleCopies follows rights copied from a role, held per application, through
// the changes that touch them: revoking one turns the user's copy back into rows
// with the copy's source and date, re-applying and applying an edited role add
// without duplicating a path, the earliest copy is the one shown, and deleting a
// right removes it from every copy.
func TestRoleCopies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		c := st.Client
		ctx := newAccount(t, c, "acme")
		jane, joe := newUser(t, ctx, c, "jane"), newUser(t, ctx, c, "joe")
		for _, key := range []string{"copy.a", "copy.b", "copy.c"} {
			if _, err := access.CreateRight(ctx, c, access.CreateRightInput{Key: key, Name: key, Kind: "READ"}); err != nil {
				t.Fatal(err)
			}
		}
		r, err := access.CreateRole(ctx, c, access.CreateRoleInput{Name: "Copier", Rights: []string{"copy.a", "copy.b"}})
		if err != nil {
			t.Fatal(err)
		}
		both := access.UserSelection{UserIDs: []int{jane.ID, joe.ID}}
		if _, err := access.ApplyRoleTo(ctx, c, both, r.ID, false); err != nil {
			t.Fatal(err)
		}
		first := directGrants(t, ctx, c, jane)["copy.a"]
		if len(first) != 1 || first[0].Source != enums.SourceRole || *first[0].SourceRoleID != r.ID || first[0].ID >= 0 {
			t.Fatalf("copy.a after apply: %+v", first)
		}
		appliedAt := first[0].GrantedAt
		// Applying the same role again to its holders stores nothing new.
		if _, err := access.ReapplyRole(ctx, c, r.ID, false); err != nil {
			t.Fatal(err)
		}
		if n, err := c.UserRoleCopy.Query().Count(ctx); err != nil || n != 2 {
			t.Fatalf("user role copies after re-applying: %d, %v (want one each for jane and joe)", n, err)
		}
		// The copy's grant resolves by its own id, as node() does.
		n, err := access.Noder(ctx, c, first[0].ID)
		if g, ok := n.(*gen.UserGrant); err != nil || !ok || g.GrantKey != first[0].GrantKey || g.UserID != jane.ID {
			t.Fatalf("node(%d) = %v, %v", first[0].ID, n, err)
		}

		// The role gains copy.c; applying it again adds c and keeps a's first date.
		time.Sleep(2 * time.Millisecond)
		if _, _, err := access.UpdateRole(ctx, c, access.UpdateRoleInput{ID: r.ID, Rights: []string{"copy.a", "copy.b", "copy.c"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := access.ApplyRoleTo(ctx, c, access.One(jane.ID), r.ID, false); err != nil {
			t.Fatal(err)
		}
		held := directGrants(t, ctx, c, jane)
		if len(held["copy.a"]) != 1 || !held["copy.a"][0].GrantedAt.Equal(appliedAt) || len(held["copy.c"]) != 1 {
			t.Fatalf("after applying the edited role: a %+v, c %+v", held["copy.a"], held["copy.c"])
		}

		// Revoking c from jane turns her second copy into rows (a and b, dated then);
		// her first copy still gives a and b their first date.
		revoke := func(u *gen.User, key string) {
			t.Helper()
			res, err := access.RevokeRights(ctx, c, access.One(u.ID), []access.GrantInput{{Right: &key}}, false)
			if err != nil || res.AffectedCount != 1 {
				t.Fatalf("revoke %s from %s: %+v, %v", key, u.UserName, res, err)
			}
		}
		revoke(jane, "copy.c")
		held = directGrants(t, ctx, c, jane)
		if held["copy.c"] != nil || len(held["copy.a"]) != 1 || !held["copy.a"][0].GrantedAt.Equal(appliedAt) {
			t.Fatalf("after revoking c: %v", held)
		}
		// Revoking b turns the first copy into rows too: a keeps the earlier date of
		// the two rows it now has a claim to.
		revoke(jane, "copy.b")
		held = directGrants(t, ctx, c, jane)
		if held["copy.b"] != nil || len(held["copy.a"]) != 1 || held["copy.a"][0].ID < 0 ||
			!held["copy.a"][0].GrantedAt.Equal(appliedAt) || held["copy.a"][0].SourceKey != "ROLE:"+itoa(r.ID) {
			t.Fatalf("after revoking b: %v (a: %+v)", held, held["copy.a"])
		}
		if n, err := c.UserRoleCopy.Query().Count(ctx); err != nil || n != 1 {
			t.Fatalf("user role copies left: %d, %v (want joe's only)", n, err)
		}
		// Joe, who shared the first copy, still holds a and b through it.
		if held := directGrants(t, ctx, c, joe); len(held) != 2 || held["copy.b"] == nil || held["copy.b"][0].ID >= 0 {
			t.Fatalf("joe after jane's revocations: %v", held)
		}
		h, err := access.LoadHolder(ctx, c, joe.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		var paths []access.Path
		for _, e := range h.EffectiveRights() {
			if e.Right.Key == "copy.b" {
				paths = e.Paths
			}
		}
		if len(paths) != 1 || paths[0].Kind != access.PathRole || paths[0].RoleID != r.ID || paths[0].GrantedAt == nil ||
			!paths[0].GrantedAt.Equal(appliedAt) {
			t.Fatalf("joe's paths to copy.b: %+v", paths)
		}

		// Deleting a right removes it from every copy.
		b, err := c.Right.Query().All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, rt := range b {
			if rt.Key == "copy.b" {
				if err := access.DeleteRight(ctx, c, rt.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		if held := directGrants(t, ctx, c, joe); len(held) != 1 || held["copy.a"] == nil {
			t.Fatalf("joe after deleting copy.b: %v", held)
		}
		// Deleting the role leaves what it copied.
		if _, err := access.DeleteRole(ctx, c, r.ID, false); err != nil {
			t.Fatal(err)
		}
		if held := directGrants(t, ctx, c, joe); len(held) != 1 || held["copy.a"][0].SourceRoleName != "Copier" {
			t.Fatalf("joe after deleting the role: %v", held)
		}
	})
}

// TestCopiedGrantIDs checks how a copied right's id is made: negative, one per copy
// row and right, read back as both, and refused where the places do not fit.
func TestCopiedGrantIDs(t *testing.T) {
	c0, r0 := access.UserCopyIDStart, access.RightIDStart
	for _, tt := range []struct {
		name            string
		userCopy, right int
		want            int // 0: refused
	}{
		{"the first copy row and right", c0, r0, -1},
		{"the next right", c0, r0 + 1, -2},
		{"the next copy row", c0 + 1, r0, -(1<<31 + 1)},
		{"the last places that fit", c0 + 1<<32 - 1, r0 + 1<<31 - 2, -(1<<63 - 1)},
		{"the very last places", c0 + 1<<32 - 1, r0 + 1<<31 - 1, 0},
		{"a copy row past its range", c0 + 1<<32, r0, 0},
		{"a right past the places", c0, r0 + 1<<31, 0},
		{"an id below the copy rows", c0 - 1, r0, 0},
		{"an id below the rights", c0, r0 - 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, err := access.CopiedGrantID(tt.userCopy, tt.right)
			if tt.want == 0 {
				if err == nil {
					t.Fatalf("CopiedGrantID = %d, want an error", id)
				}
				return
			}
			if err != nil || id != tt.want {
				t.Fatalf("CopiedGrantID = %d, %v, want %d", id, err, tt.want)
			}
			if uc, r := access.SplitCopiedGrantID(id); uc != tt.userCopy || r != tt.right {
				t.Fatalf("SplitCopiedGrantID(%d) = %d, %d", id, uc, r)
			}
		})
	}
}

// TestCopiedGrantIDsStayWhenARightGoes checks that deleting a right from the
// catalogue, which removes it from every copy, changes the id of no other copied
// right: each id still resolves to the same grant, and the deleted right's to none.
func TestCopiedGrantIDsStayWhenARightGoes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		c := st.Client
		ctx := newAccount(t, c, "acme")
		jane := newUser(t, ctx, c, "jane")
		rights := map[string]int{}
		for _, key := range []string{"copy.a", "copy.b", "copy.c"} {
			r, err := access.CreateRight(ctx, c, access.CreateRightInput{Key: key, Name: key, Kind: "READ"})
			if err != nil {
				t.Fatal(err)
			}
			rights[key] = r.ID
		}
		role, err := access.CreateRole(ctx, c, access.CreateRoleInput{Name: "Copier", Rights: []string{"copy.a", "copy.b", "copy.c"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := access.ApplyRoleTo(ctx, c, access.One(jane.ID), role.ID, false); err != nil {
			t.Fatal(err)
		}
		before := directGrants(t, ctx, c, jane)
		if len(before) != 3 {
			t.Fatalf("jane's direct grants: %v", before)
		}
		// The right first in the copy goes: the others' places in it change.
		if err := access.DeleteRight(ctx, c, rights["copy.a"]); err != nil {
			t.Fatal(err)
		}
		after := directGrants(t, ctx, c, jane)
		for _, key := range []string{"copy.b", "copy.c"} {
			was, is := before[key], after[key]
			if len(was) != 1 || len(is) != 1 || was[0].ID >= 0 || is[0].ID != was[0].ID {
				t.Fatalf("%s: id before %v, after %v", key, was, is)
			}
			n, err := access.Noder(ctx, c, was[0].ID)
			if g, ok := n.(*gen.UserGrant); err != nil || !ok || g.RightID == nil || *g.RightID != rights[key] {
				t.Fatalf("node(%s's id) = %+v, %v", key, n, err)
			}
		}
		if n, err := access.Noder(ctx, c, before["copy.a"][0].ID); !gen.IsNotFound(err) {
			t.Fatalf("node(the deleted right's id) = %+v, %v, want not found", n, err)
		}
	})
}

// TestUnheldCopiesGo checks that no role copy stays once no user holds it: not
// after an application that reached nobody new, nor after its last holder's
// revocation, nor after its last holder's deletion. A copy still held stays.
func TestUnheldCopiesGo(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		c := st.Client
		ctx := newAccount(t, c, "acme")
		jane, joe := newUser(t, ctx, c, "jane"), newUser(t, ctx, c, "joe")
		for _, key := range []string{"copy.a", "copy.b"} {
			if _, err := access.CreateRight(ctx, c, access.CreateRightInput{Key: key, Name: key, Kind: "READ"}); err != nil {
				t.Fatal(err)
			}
		}
		r, err := access.CreateRole(ctx, c, access.CreateRoleInput{Name: "Copier", Rights: []string{"copy.a", "copy.b"}})
		if err != nil {
			t.Fatal(err)
		}
		copies := func(step string, want int) {
			t.Helper()
			if n, err := c.RoleCopy.Query().Count(ctx); err != nil || n != want {
				t.Fatalf("%s: %d role copies, %v; want %d", step, n, err, want)
			}
		}
		both := access.UserSelection{UserIDs: []int{jane.ID, joe.ID}}
		if _, err := access.ApplyRoleTo(ctx, c, both, r.ID, false); err != nil {
			t.Fatal(err)
		}
		copies("applied to both", 1)
		if _, err := access.ReapplyRole(ctx, c, r.ID, false); err != nil {
			t.Fatal(err)
		}
		copies("re-applied to its holders, who hold it all", 1)

		// Jane lets go of the copy (revoking a turns it into rows for b); joe holds it.
		key := "copy.a"
		if _, err := access.RevokeRights(ctx, c, access.One(jane.ID), []access.GrantInput{{Right: &key}}, false); err != nil {
			t.Fatal(err)
		}
		copies("revoked from one of two holders", 1)
		if held := directGrants(t, ctx, c, joe); len(held) != 2 {
			t.Fatalf("joe after jane's revocation: %v", held)
		}
		if _, err := access.DeleteUsers(ctx, c, access.One(joe.ID), false); err != nil {
			t.Fatal(err)
		}
		copies("its last holder deleted", 0)
		if n, err := c.UserRoleCopy.Query().Count(ctx); err != nil || n != 0 {
			t.Fatalf("user role copies left: %d, %v", n, err)
		}

		// A copy held by one user goes with that user's revocation.
		if _, err := access.ApplyRoleTo(ctx, c, access.One(jane.ID), r.ID, false); err != nil {
			t.Fatal(err)
		}
		copies("applied to jane again (she lacks a)", 1)
		key = "copy.b"
		if _, err := access.RevokeRights(ctx, c, access.One(jane.ID), []access.GrantInput{{Right: &key}}, false); err != nil {
			t.Fatal(err)
		}
		copies("revoked from its only holder", 0)
		held := directGrants(t, ctx, c, jane)
		if len(held) != 1 || len(held["copy.a"]) != 1 || held["copy.a"][0].ID < 0 || held["copy.a"][0].SourceRoleName != "Copier" {
			t.Fatalf("jane after the revocation: %v", held)
		}
	})
}
