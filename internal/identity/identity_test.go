package identity

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"latchkey/ent"
	"latchkey/ent/auditevent"
	"latchkey/ent/identity"
	"latchkey/ent/invitation"
	"latchkey/ent/user"
	"latchkey/internal/admin"
	"latchkey/internal/auth"
	"latchkey/internal/mail"
	"latchkey/internal/problem"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
	"latchkey/internal/viewer"
)

const (
	janePassword = "correct horse battery"
	badToken     = "the invitation link is invalid, already used or expired"
)

// The whole path of a new person: invited by email over a real SMTP server, sets
// a password through the link, logs in, refreshes twice and logs out.
func TestInvitationToLogout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		acct, sys := e.account(t, "acme")
		u, inv := e.invite(t, sys, "jane", "Jane@Acme.test")
		if inv.Kind != KindSetup || inv.Email != "jane@acme.test" || u.Status != user.StatusINVITED {
			t.Fatalf("invitation %s for %s, user %s; want SETUP for jane@acme.test, INVITED", inv.Kind, inv.Email, u.Status)
		}

		msg := e.deliver(t)
		if to := msg.Header["X-Envelope-To"]; len(to) != 1 || to[0] != "Jane@Acme.test" {
			t.Fatalf("delivered to %v", to)
		}
		if !strings.Contains(msg.Subject, "acme") || !strings.Contains(msg.Text, "set up your password") {
			t.Fatalf("setup email: %q\n%s", msg.Subject, msg.Text)
		}
		token := linkToken(t, msg.Text, "/invitation")
		if len(token) != 43 || !strings.Contains(msg.HTML, baseURL+"invitation?token="+token) {
			t.Fatalf("token %q (want 256 bits) or HTML link missing:\n%s", token, msg.HTML)
		}
		stored, err := e.client.Invitation.Get(allowCtx(), inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.TokenHash != hashSecret(token) || strings.Contains(stored.TokenHash, token) {
			t.Fatal("the invitation does not store (only) the token's SHA-256")
		}

		accept := func(token, password string) (*ent.User, error) {
			var got *ent.User
			err := e.tx(t, func(c *ent.Client) (err error) {
				got, err = e.svc.AcceptInvitation(bg, c, token, password)
				return err
			})
			return got, err
		}
		_, err = accept(token, "short")
		wantProblem(t, err, problem.BadUserInput, "password", "")
		jane, err := accept(token, janePassword) // the failed try used nothing up
		if err != nil {
			t.Fatal(err)
		}
		if jane.Status != user.StatusACTIVE || jane.IdentityID == nil {
			t.Fatalf("accepted user: status %s identity %v", jane.Status, jane.IdentityID)
		}
		idn, err := e.client.Identity.Get(allowCtx(), *jane.IdentityID)
		if err != nil {
			t.Fatal(err)
		}
		if idn.Email != "jane@acme.test" || !strings.HasPrefix(idn.PasswordHash, "$argon2id$") || !auth.CheckPassword(idn.PasswordHash, janePassword) {
			t.Fatalf("identity %q hash %q", idn.Email, idn.PasswordHash)
		}
		_, err = accept(token, janePassword)
		wantProblem(t, err, problem.BadUserInput, "token", badToken)

		before := e.clk.Now()
		t1 := e.mustLogin(t, "  JANE@acme.TEST ", janePassword, nil)
		sub, err := e.authn.Verify(bg, t1.AccessToken)
		if err != nil || sub != (auth.Subject{AccountID: acct.ID, UserID: u.ID}) || t1.AccountID != acct.ID || t1.UserID != u.ID {
			t.Fatalf("access token subject %+v (%v), tokens for %d/%d", sub, err, t1.AccountID, t1.UserID)
		}
		if d := time.Until(t1.ExpiresAt); d <= 14*time.Minute || d > 15*time.Minute {
			t.Fatalf("access token expires in %s, want 15 minutes", d)
		}
		if !t1.RefreshExpiresAt.Equal(before.Add(DefaultRefreshTTL)) {
			t.Fatalf("refresh token expires %s, want %s", t1.RefreshExpiresAt, before.Add(DefaultRefreshTTL))
		}
		if last := e.user(t, u).LastLoginAt; last == nil || !last.Equal(before) {
			t.Fatalf("last login %v, want %s", last, before)
		}

		t2, err := e.refresh(t, t1.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		t3, err := e.refresh(t, t2.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if t2.RefreshToken == t1.RefreshToken || t3.RefreshToken == t2.RefreshToken || t3.AccessToken == t1.AccessToken {
			t.Fatal("refresh did not rotate")
		}
		if sub, err := e.authn.Verify(bg, t3.AccessToken); err != nil || sub.UserID != u.ID {
			t.Fatalf("refreshed access token: %+v, %v", sub, err)
		}

		for range 2 { // logging out twice is fine
			if err := e.tx(t, func(c *ent.Client) error { return e.svc.Logout(bg, c, t3.RefreshToken) }); err != nil {
				t.Fatal(err)
			}
		}
		_, err = e.refresh(t, t3.RefreshToken)
		wantProblem(t, err, problem.Unauthenticated, "", "")

		// The audit log has the flow, and never a secret or its hash.
		events, err := e.client.AuditEvent.Query().Order(auditevent.ByID()).All(sys)
		if err != nil {
			t.Fatal(err)
		}
		actions := map[string]bool{}
		for _, ev := range events {
			actions[ev.Action] = true
			raw := string(ev.Before) + string(ev.After)
			for _, secret := range []string{token, hashSecret(token), t1.RefreshToken, hashSecret(t1.RefreshToken), "token_hash", "password_hash"} {
				if strings.Contains(raw, secret) {
					t.Fatalf("audit event %s holds %q", ev.Action, secret)
				}
			}
		}
		for _, want := range []string{"invitation.create", "invitation.update", "user.update", "refreshtoken.create", "refreshtoken.update"} {
			if !actions[want] {
				t.Errorf("no %s audit event (have %v)", want, actions)
			}
		}
	})
}

// A person who already has a login is sent a LINK invitation when added to another
// account; accepting takes their existing password, and then one password opens
// both accounts, chosen with accountId.
func TestLinkInvitation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		acme, acmeSys := e.account(t, "acme")
		globex, globexSys := e.account(t, "globex")
		initech, _ := e.account(t, "initech")
		janeAcme := e.onboard(t, acmeSys, "jane", "jane@acme.test", janePassword)

		janeGlobex, inv := e.invite(t, globexSys, "jdoe", "JANE@ACME.TEST")
		if inv.Kind != KindLink {
			t.Fatalf("invitation kind %s, want LINK", inv.Kind)
		}
		msg := e.deliver(t)
		if !strings.Contains(msg.Text, "already have a Latchkey login") || !strings.Contains(msg.Text, "existing password") || strings.Contains(msg.Text, "set up your password") {
			t.Fatalf("link email says:\n%s", msg.Text)
		}
		token := linkToken(t, msg.Text, "/invitation")

		accept := func(password string) (*ent.User, error) {
			var got *ent.User
			err := e.tx(t, func(c *ent.Client) (err error) {
				got, err = e.svc.AcceptInvitation(bg, c, token, password)
				return err
			})
			return got, err
		}
		_, err := accept("another good password")
		wantProblem(t, err, problem.BadUserInput, "password", "")
		linked, err := accept(janePassword)
		if err != nil {
			t.Fatal(err)
		}
		if linked.IdentityID == nil || *linked.IdentityID != *janeAcme.IdentityID || linked.Status != user.StatusACTIVE {
			t.Fatalf("linked user: identity %v (want %d), status %s", linked.IdentityID, *janeAcme.IdentityID, linked.Status)
		}
		if n, _ := e.client.Identity.Query().Count(allowCtx()); n != 1 {
			t.Fatalf("%d identities, want 1", n)
		}

		_, err = e.login(t, "jane@acme.test", janePassword, nil)
		wantProblem(t, err, problem.BadUserInput, "accountId", "")
		var choose *ChooseAccountError
		if !errors.As(err, &choose) || len(choose.Accounts) != 2 || choose.Accounts[0].ID != acme.ID || choose.Accounts[1].ID != globex.ID {
			t.Fatalf("account choices: %+v", choose)
		}
		if msg := err.Error(); strings.Contains(msg, "acme") || strings.Contains(msg, "globex") {
			t.Fatalf("the error message names accounts: %q", msg)
		}

		cases := []struct {
			name    string
			account int
			want    *ent.User
		}{
			{"acme", acme.ID, janeAcme},
			{"globex", globex.ID, janeGlobex},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				tok := e.mustLogin(t, "jane@acme.test", janePassword, &tc.account)
				sub, err := e.authn.Verify(bg, tok.AccessToken)
				if err != nil || sub != (auth.Subject{AccountID: tc.account, UserID: tc.want.ID}) {
					t.Fatalf("subject %+v, %v", sub, err)
				}
			})
		}
		_, err = e.login(t, "jane@acme.test", janePassword, &initech.ID)
		wantProblem(t, err, problem.Unauthenticated, "", "")

		// With globex suspended, acme is the only account: no choice needed.
		if err := e.client.User.UpdateOneID(janeGlobex.ID).SetStatus(user.StatusSUSPENDED).Exec(globexSys); err != nil {
			t.Fatal(err)
		}
		if tok := e.mustLogin(t, "jane@acme.test", janePassword, nil); tok.AccountID != acme.ID {
			t.Fatalf("logged into account %d, want acme", tok.AccountID)
		}
	})
}

// Unknown email, wrong password and an identity without a password are one and
// the same failure, after the same work.
func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		_, sys := e.account(t, "acme")
		e.onboard(t, sys, "jane", "jane@acme.test", janePassword)
		if _, err := e.client.Identity.Create().SetEmail("nopass@acme.test").Save(allowCtx()); err != nil {
			t.Fatal(err)
		}
		cases := []struct{ name, email, password string }{
			{"unknown email", "nobody@acme.test", janePassword},
			{"wrong password", "jane@acme.test", "incorrect horse battery"},
			{"empty password", "jane@acme.test", ""},
			{"identity without password", "nopass@acme.test", janePassword},
			{"empty email", "", janePassword},
		}
		durations := map[string]time.Duration{}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var fastest time.Duration
				for i := range 3 {
					start := time.Now()
					_, err := e.login(t, tc.email, tc.password, nil)
					if d := time.Since(start); i == 0 || d < fastest {
						fastest = d
					}
					wantProblem(t, err, problem.Unauthenticated, "", "invalid email or password")
				}
				durations[tc.name] = fastest
			})
		}
		// Each failure runs argon2 once: an unknown email may not answer much faster
		// than a wrong password (the check is loose, to stay quiet on a busy machine).
		if u, w := durations["unknown email"], durations["wrong password"]; u < w/3 {
			t.Errorf("unknown email answered in %s, wrong password in %s", u, w)
		}
	})
}

// Inactive and suspended users cannot log in even with the right password.
func TestLoginNeedsAnActiveUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		_, sys := e.account(t, "acme")
		cases := []struct {
			name  string
			email string
			edit  func(*ent.UserUpdateOne)
		}{
			{"suspended", "sus@acme.test", func(u *ent.UserUpdateOne) { u.SetStatus(user.StatusSUSPENDED) }},
			{"inactive", "off@acme.test", func(u *ent.UserUpdateOne) { u.SetActive(false) }},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				u := e.onboard(t, sys, strings.Split(tc.email, "@")[0], tc.email, janePassword)
				upd := e.client.User.UpdateOneID(u.ID)
				tc.edit(upd)
				if err := upd.Exec(sys); err != nil {
					t.Fatal(err)
				}
				_, err := e.login(t, tc.email, janePassword, nil)
				wantProblem(t, err, problem.Unauthenticated, "", "this login has no active user")
			})
		}
	})
}

// Every way an invitation token can be wrong gives the same answer.
func TestInvitationTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		_, sys := e.account(t, "acme")
		invite := func(name string) (*ent.User, string) {
			var (
				u     *ent.User
				token string
			)
			if err := e.tx(t, func(c *ent.Client) (err error) {
				if u, err = admin.CreateUser(sys, c, admin.CreateUserInput{UserName: name, Email: name + "@acme.test"}); err != nil {
					return err
				}
				_, token, err = e.svc.Invite(bg, c, u)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return u, token
		}
		accept := func(token string) error {
			return e.tx(t, func(c *ent.Client) error {
				_, err := e.svc.AcceptInvitation(bg, c, token, janePassword)
				return err
			})
		}
		reinvite := func(u *ent.User) string {
			var token string
			if err := e.tx(t, func(c *ent.Client) (err error) {
				_, token, err = e.svc.Invite(bg, c, e.user(t, u))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return token
		}

		_, used := invite("used")
		if err := accept(used); err != nil {
			t.Fatal(err)
		}
		expiring, expired := invite("expired")
		replacedUser, replaced := invite("replaced")
		fresh := reinvite(replacedUser)
		suspendedUser, suspended := invite("suspended")
		if err := e.client.User.UpdateOneID(suspendedUser.ID).SetStatus(user.StatusSUSPENDED).Exec(sys); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name    string
			advance time.Duration // the clock moves on before this case
			token   string
		}{
			{"unknown", 0, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
			{"empty", 0, ""},
			{"huge", 0, strings.Repeat("x", 10000)},
			{"used", 0, used},
			{"replaced by a new invitation", 0, replaced},
			{"user suspended", 0, suspended},
			{"expired", DefaultInvitationTTL, expired},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.clk.Add(tc.advance)
				wantProblem(t, accept(tc.token), problem.BadUserInput, "token", badToken)
			})
		}
		// A link still works until the very end of its time.
		e.clk.Add(-time.Microsecond)
		if err := accept(fresh); err != nil {
			t.Fatalf("an invitation about to expire: %v", err)
		}
		if n, _ := e.client.Invitation.Query().Where(invitation.UserID(replacedUser.ID)).Count(sys); n != 1 {
			t.Fatalf("re-inviting kept %d invitations, want 1", n)
		}
		if u := e.user(t, expiring); u.Status != user.StatusINVITED {
			t.Fatalf("expired invitee is %s", u.Status)
		}
		// A user with a login is not invited again.
		var linked *ent.User
		linked, _ = e.client.User.Query().Where(user.UserName("used")).Only(sys)
		err := e.tx(t, func(c *ent.Client) error { _, _, err := e.svc.Invite(bg, c, linked); return err })
		wantProblem(t, err, problem.Conflict, "", "")
	})
}

// Refresh tokens rotate; reusing one revokes its family; expired, revoked, unknown
// tokens and users who may no longer log in are refused.
func TestRefreshTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		_, sys := e.account(t, "acme")
		cases := []struct {
			name string
			// run gets a logged-in user and their tokens; it returns the refresh token
			// that must now be refused.
			run func(t *testing.T, u *ent.User, tok *Tokens, email string) (refused string)
		}{
			{"reuse revokes the family", func(t *testing.T, u *ent.User, t1 *Tokens, email string) string {
				other := e.mustLogin(t, email, janePassword, nil) // another session (family)
				t2, err := e.refresh(t, t1.RefreshToken)
				if err != nil {
					t.Fatal(err)
				}
				_, err = e.refresh(t, t1.RefreshToken) // a stolen copy of t1
				wantProblem(t, err, problem.Unauthenticated, "", "")
				if !errors.Is(err, ErrRefreshTokenReused) {
					t.Fatalf("reuse error %v lacks ErrRefreshTokenReused", err)
				}
				if _, err := e.refresh(t, other.RefreshToken); err != nil {
					t.Fatalf("another session was revoked too: %v", err)
				}
				return t2.RefreshToken // the legitimate holder's newer token is dead too
			}},
			{"expired", func(t *testing.T, u *ent.User, tok *Tokens, _ string) string {
				e.clk.Add(DefaultRefreshTTL)
				return tok.RefreshToken
			}},
			{"unknown", func(t *testing.T, u *ent.User, tok *Tokens, _ string) string {
				return "no-such-token-" + tok.RefreshToken[:10]
			}},
			{"logged out", func(t *testing.T, u *ent.User, tok *Tokens, _ string) string {
				if err := e.tx(t, func(c *ent.Client) error { return e.svc.Logout(bg, c, tok.RefreshToken) }); err != nil {
					t.Fatal(err)
				}
				return tok.RefreshToken
			}},
			{"user suspended", func(t *testing.T, u *ent.User, tok *Tokens, _ string) string {
				if err := e.client.User.UpdateOneID(u.ID).SetStatus(user.StatusSUSPENDED).Exec(sys); err != nil {
					t.Fatal(err)
				}
				return tok.RefreshToken
			}},
			{"user inactive", func(t *testing.T, u *ent.User, tok *Tokens, _ string) string {
				if err := e.client.User.UpdateOneID(u.ID).SetActive(false).Exec(sys); err != nil {
					t.Fatal(err)
				}
				return tok.RefreshToken
			}},
			{"user deleted", func(t *testing.T, u *ent.User, tok *Tokens, _ string) string {
				if err := e.client.User.DeleteOneID(u.ID).Exec(sys); err != nil {
					t.Fatal(err)
				}
				return tok.RefreshToken
			}},
			{"RevokeUser", func(t *testing.T, u *ent.User, tok *Tokens, email string) string {
				second := e.mustLogin(t, email, janePassword, nil)
				// As an admin's request would: a viewer in the account.
				admin := viewer.NewContext(bg, &viewer.Viewer{AccountID: u.AccountID, Kind: viewer.KindUser, ActorID: 1, Actor: "user:admin", AllData: true})
				if err := e.tx(t, func(c *ent.Client) error { return e.svc.RevokeUser(admin, c, u.ID) }); err != nil {
					t.Fatal(err)
				}
				if _, err := e.refresh(t, second.RefreshToken); err == nil {
					t.Fatal("the second session survived RevokeUser")
				}
				return tok.RefreshToken
			}},
		}
		bystander := e.onboard(t, sys, "bystander", "bystander@acme.test", janePassword)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				email := strings.ReplaceAll(strings.ToLower(tc.name), " ", ".") + "@acme.test"
				u := e.onboard(t, sys, "u"+string(rune('a'+i)), email, janePassword)
				tok := e.mustLogin(t, email, janePassword, nil)
				refused := tc.run(t, u, tok, email)
				_, err := e.refresh(t, refused)
				wantProblem(t, err, problem.Unauthenticated, "", "")
			})
		}
		// Nothing above touched another user's account.
		tok := e.mustLogin(t, "bystander@acme.test", janePassword, nil)
		if _, err := e.refresh(t, tok.RefreshToken); err != nil || e.user(t, bystander).Status != user.StatusACTIVE {
			t.Fatalf("bystander: %v", err)
		}
	})
}

// A password reset goes by email, works once, expires, and ends every session.
func TestPasswordReset(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		_, sys := e.account(t, "acme")
		_, otherSys := e.account(t, "globex")
		jane := e.onboard(t, sys, "jane", "jane@acme.test", janePassword)
		e.invite(t, otherSys, "jane", "jane@acme.test")
		e.deliver(t)
		before := e.mustLogin(t, "jane@acme.test", janePassword, nil)

		request := func(email string) error {
			return e.tx(t, func(c *ent.Client) error { return e.svc.RequestPasswordReset(bg, c, email) })
		}
		reset := func(token, password string) error {
			return e.tx(t, func(c *ent.Client) error { return e.svc.ResetPassword(bg, c, token, password) })
		}
		outbox := func() int {
			n, err := e.client.OutboxMessage.Query().Count(allowCtx())
			if err != nil {
				t.Fatal(err)
			}
			return n
		}

		// Unknown addresses get the same answer and no email.
		n := outbox()
		for _, email := range []string{"nobody@acme.test", "", "not an email"} {
			if err := request(email); err != nil {
				t.Fatalf("RequestPasswordReset(%q) = %v, want nil", email, err)
			}
		}
		if outbox() != n {
			t.Fatal("an unknown email was sent a reset")
		}

		if err := request(" Jane@ACME.test"); err != nil {
			t.Fatal(err)
		}
		msg := e.deliver(t)
		if to := msg.Header["X-Envelope-To"]; to[0] != "jane@acme.test" || !strings.Contains(strings.ToLower(msg.Subject), "reset") {
			t.Fatalf("reset email to %v: %q", to, msg.Subject)
		}
		first := linkToken(t, msg.Text, "/reset-password")
		if err := request("jane@acme.test"); err != nil { // a second request replaces the first
			t.Fatal(err)
		}
		token := linkToken(t, e.deliver(t).Text, "/reset-password")
		wantProblem(t, reset(first, "a brand new password"), problem.BadUserInput, "token", "")
		wantProblem(t, reset(token, "short"), problem.BadUserInput, "password", "")
		if err := reset(token, "a brand new password"); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, reset(token, "yet another password"), problem.BadUserInput, "token", "")

		_, err := e.login(t, "jane@acme.test", janePassword, nil)
		wantProblem(t, err, problem.Unauthenticated, "", "invalid email or password")
		e.mustLogin(t, "jane@acme.test", "a brand new password", nil)
		_, err = e.refresh(t, before.RefreshToken)
		wantProblem(t, err, problem.Unauthenticated, "", "")
		if n, _ := e.client.AuditEvent.Query().Where(auditevent.Action("identity.password_reset"), auditevent.TargetID(jane.ID)).Count(sys); n != 1 {
			t.Fatalf("%d password_reset audit events, want 1", n)
		}

		// An unused link expires after an hour.
		if err := request("jane@acme.test"); err != nil {
			t.Fatal(err)
		}
		late := linkToken(t, e.deliver(t).Text, "/reset-password")
		e.clk.Add(DefaultResetTTL)
		wantProblem(t, reset(late, "too late password"), problem.BadUserInput, "token", "")
	})
}

// Changing a password needs the current one, ends the other sessions of the
// identity and hands the caller a new one.
func TestChangePassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		_, sys := e.account(t, "acme")
		jane := e.onboard(t, sys, "jane", "jane@acme.test", janePassword)
		s1 := e.mustLogin(t, "jane@acme.test", janePassword, nil)
		s2 := e.mustLogin(t, "jane@acme.test", janePassword, nil)
		change := func(current, next string) (*Tokens, error) {
			var tok *Tokens
			err := e.tx(t, func(c *ent.Client) (err error) {
				tok, err = e.svc.ChangePassword(userCtx(jane), c, jane.ID, current, next)
				return err
			})
			return tok, err
		}
		cases := []struct {
			name, current, next, field string
		}{
			{"wrong current password", "incorrect horse battery", "a brand new password", "currentPassword"},
			{"new password too short", janePassword, "short", "newPassword"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := change(tc.current, tc.next)
				wantProblem(t, err, problem.BadUserInput, tc.field, "")
			})
		}
		if _, err := e.refresh(t, s1.RefreshToken); err != nil { // failures changed nothing
			t.Fatal(err)
		}
		tok, err := change(janePassword, "a brand new password")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.refresh(t, s2.RefreshToken); err == nil {
			t.Fatal("another session survived the password change")
		}
		if _, err := e.refresh(t, tok.RefreshToken); err != nil {
			t.Fatalf("the caller's new session: %v", err)
		}
		_, err = e.login(t, "jane@acme.test", janePassword, nil)
		wantProblem(t, err, problem.Unauthenticated, "", "")
		e.mustLogin(t, "jane@acme.test", "a brand new password", nil)

		// A user without a login yet has no password to change.
		invited, _ := e.invite(t, sys, "newbie", "newbie@acme.test")
		err = e.tx(t, func(c *ent.Client) error {
			_, err := e.svc.ChangePassword(userCtx(invited), c, invited.ID, "whatever it was", "a brand new password")
			return err
		})
		wantProblem(t, err, problem.BadUserInput, "currentPassword", "")
	})
}

// Without SMTP, the sender logs the invitation — link included — and the link
// works.
func TestInvitationWithoutSMTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		var (
			mu  sync.Mutex
			buf bytes.Buffer
		)
		logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return buf.Write(p)
		}), nil))
		sender, err := mail.NewSender(st.Client, mail.Config{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		_, sys := e.account(t, "acme")
		e.invite(t, sys, "jane", "jane@acme.test")
		if sent, err := sender.SendDue(bg); sent != 1 || err != nil {
			t.Fatalf("SendDue = %d, %v", sent, err)
		}
		mu.Lock()
		out := buf.String()
		mu.Unlock()
		if !strings.Contains(out, `"level":"INFO"`) || !strings.Contains(out, `"to":"jane@acme.test"`) {
			t.Fatalf("log: %s", out)
		}
		token := linkToken(t, out, "/invitation")
		if err := e.tx(t, func(c *ent.Client) error { _, err := e.svc.AcceptInvitation(bg, c, token, janePassword); return err }); err != nil {
			t.Fatal(err)
		}
		if len(e.smtp.Messages()) != 0 {
			t.Fatal("mail went to the SMTP server")
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// An identity imported with a bcrypt hash logs in, and the hash becomes argon2id.
func TestBcryptHashIsUpgraded(t *testing.T) {
	st := storetest.SQLite(t)
	e := newEnv(t, st)
	_, sys := e.account(t, "acme")
	hash, err := bcrypt.GenerateFromPassword([]byte(janePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	idn, err := e.client.Identity.Create().SetEmail("jane@acme.test").SetPasswordHash(string(hash)).Save(allowCtx())
	if err != nil {
		t.Fatal(err)
	}
	u, err := admin.CreateUser(sys, e.client, admin.CreateUserInput{UserName: "jane", Email: "jane@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.User.UpdateOne(u).SetIdentityID(idn.ID).SetStatus(user.StatusACTIVE).Exec(sys); err != nil {
		t.Fatal(err)
	}
	e.mustLogin(t, "jane@acme.test", janePassword, nil)
	got, err := e.client.Identity.Query().Where(identity.ID(idn.ID)).Only(allowCtx())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.PasswordHash, "$argon2id$") {
		t.Fatalf("hash not upgraded: %q", got.PasswordHash[:8])
	}
	e.mustLogin(t, "jane@acme.test", janePassword, nil)
}

func TestConfig(t *testing.T) {
	authn := auth.NewService(nil, auth.NewKeys(nil))
	cases := []struct {
		base    string
		wantErr bool
	}{
		{"", false},
		{"https://admin.example.com", false},
		{"http://localhost:3000/app/", false},
		{"admin.example.com", true},
		{"ftp://admin.example.com", true},
		{"https://admin.example.com/?x=1", true},
	}
	for _, tc := range cases {
		s, err := New(Config{BaseURL: tc.base}, authn)
		if (err != nil) != tc.wantErr {
			t.Errorf("New(%q): %v", tc.base, err)
			continue
		}
		if err == nil {
			c := s.Config()
			if c.InvitationTTL != 7*24*time.Hour || c.ResetTTL != time.Hour || c.RefreshTTL != 30*24*time.Hour {
				t.Errorf("defaults: %+v", c)
			}
			if got := s.link("/invitation", "a+b"); !strings.HasSuffix(got, "/invitation?token=a%2Bb") || strings.Contains(got, "//invitation") {
				t.Errorf("link %q", got)
			}
		}
	}
}

// Two accounts invite the same new person before either invitation is accepted:
// both are SETUP, the first sets the password, and the second then links with it
// (a SETUP link never overwrites an existing password).
func TestTwoSetupInvitations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		_, acmeSys := e.account(t, "acme")
		_, globexSys := e.account(t, "globex")
		_, inv1 := e.invite(t, acmeSys, "jane", "jane@acme.test")
		first := linkToken(t, e.deliver(t).Text, "/invitation")
		_, inv2 := e.invite(t, globexSys, "jane", "jane@acme.test")
		second := linkToken(t, e.deliver(t).Text, "/invitation")
		if inv1.Kind != KindSetup || inv2.Kind != KindSetup {
			t.Fatalf("kinds %s, %s; want SETUP twice", inv1.Kind, inv2.Kind)
		}
		accept := func(token, password string) (*ent.User, error) {
			var u *ent.User
			err := e.tx(t, func(c *ent.Client) (err error) {
				u, err = e.svc.AcceptInvitation(bg, c, token, password)
				return err
			})
			return u, err
		}
		a, err := accept(first, janePassword)
		if err != nil {
			t.Fatal(err)
		}
		_, err = accept(second, "a different password")
		wantProblem(t, err, problem.BadUserInput, "password", "")
		b, err := accept(second, janePassword)
		if err != nil {
			t.Fatal(err)
		}
		if *a.IdentityID != *b.IdentityID {
			t.Fatal("two identities for one email")
		}
	})
}

// An invitation is for the address it was sent to: once the user's email changes,
// it no longer works, and a new invitation goes to the new address.
func TestInvitationFollowsTheEmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		_, sys := e.account(t, "acme")
		u, _ := e.invite(t, sys, "jane", "jane@old.test")
		old := linkToken(t, e.deliver(t).Text, "/invitation")
		u, err := admin.UpdateUser(sys, e.client, admin.UpdateUserInput{ID: u.ID, Email: ptr("jane@new.test")})
		if err != nil {
			t.Fatal(err)
		}
		err = e.tx(t, func(c *ent.Client) error { _, err := e.svc.AcceptInvitation(bg, c, old, janePassword); return err })
		wantProblem(t, err, problem.BadUserInput, "token", badToken)
		if err := e.tx(t, func(c *ent.Client) error { _, _, err := e.svc.Invite(bg, c, u); return err }); err != nil {
			t.Fatal(err)
		}
		msg := e.deliver(t)
		if to := msg.Header["X-Envelope-To"]; to[0] != "jane@new.test" {
			t.Fatalf("re-invitation went to %v", to)
		}
		token := linkToken(t, msg.Text, "/invitation")
		if err := e.tx(t, func(c *ent.Client) error { _, err := e.svc.AcceptInvitation(bg, c, token, janePassword); return err }); err != nil {
			t.Fatal(err)
		}
		e.mustLogin(t, "jane@new.test", janePassword, nil)
	})
}
