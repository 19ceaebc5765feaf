package app_test

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"testing"

	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/mail"
	"latchkey/internal/mail/mailtest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

var tokenInLink = regexp.MustCompile(`/invitation\?token=([A-Za-z0-9_\-]+)`)

// TestInvitationLoginFlow: an admin adds Jane; Jane gets an email with a one-time
// link, sets a password, logs in, refreshes and logs out — all through HTTP, with a
// real SMTP server receiving the mail. Bob, who already has a login in another
// account, gets a link invitation and one password opens both accounts.
func TestInvitationLoginFlow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		smtp := mailtest.Start(t, mailtest.Options{NoTLS: true})
		env := apptest.New(t, st, app.Config{PublicURL: "https://admin.acme.test"})
		sender, err := mail.NewSender(st.Client, mail.Config{SMTPURL: smtp.URL(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		deliver := func(n int) []string {
			t.Helper()
			if _, err := sender.SendDue(context.Background()); err != nil {
				t.Fatal(err)
			}
			var links []string
			for _, m := range smtp.Wait(t, n) {
				p, err := mailtest.Parse(m.Raw)
				if err != nil {
					t.Fatal(err)
				}
				if l := tokenInLink.FindStringSubmatch(p.Text); l != nil {
					links = append(links, l[1])
				}
			}
			return links
		}
		acme, acmeBoot := env.Bootstrap("acme", "admin@acme.test")
		anon := env.Client("")

		// Jane: a setup invitation.
		acme.Must(`mutation { createUser(input: {userName: "jane", email: "Jane@example.test"}) { user { id status } } }`, nil)
		tokens := deliver(1)
		if len(tokens) != 1 {
			t.Fatalf("invitation mail without a link: %v", smtp.Messages())
		}
		acc := anon.Must(`mutation($t: String!) { acceptInvitation(input: {token: $t, password: "correct horse battery"}) { userName accountId } }`,
			map[string]any{"t": tokens[0]})
		if acc.String("acceptInvitation.userName") != "jane" || acc.String("acceptInvitation.accountId") != acmeBoot.AccountID {
			t.Fatalf("acceptInvitation: %v", acc.Data)
		}
		if e := anon.Fail(`mutation($t: String!) { acceptInvitation(input: {token: $t, password: "correct horse battery"}) { userName } }`,
			map[string]any{"t": tokens[0]}); e.Code() != "BAD_USER_INPUT" || e.Field() != "token" {
			t.Errorf("a used invitation: %+v", e)
		}
		if e := anon.Fail(`mutation { login(input: {email: "jane@example.test", password: "wrong password!!"}) { accessToken } }`, nil); e.Code() != "UNAUTHENTICATED" {
			t.Errorf("wrong password: %+v", e)
		}
		unknown := anon.Fail(`mutation { login(input: {email: "nobody@example.test", password: "wrong password!!"}) { accessToken } }`, nil)
		if unknown.Code() != "UNAUTHENTICATED" {
			t.Errorf("unknown email: %+v", unknown)
		}
		login := anon.Must(`mutation { login(input: {email: "JANE@example.test", password: "correct horse battery"}) { accessToken refreshToken expiresAt userId } }`, nil)
		jane := env.Client(login.String("login.accessToken"))
		if me := jane.Must(`{ viewer { userName status lastLoginAt } }`, nil); me.String("viewer.status") != "ACTIVE" || me.String("viewer.lastLoginAt") == "" {
			t.Errorf("after login: %v", me.Data)
		}
		// Refresh rotates; the old refresh token used again revokes the family.
		first := login.String("login.refreshToken")
		second := anon.Must(`mutation($r: String!) { refreshToken(input: {refreshToken: $r}) { accessToken refreshToken } }`, map[string]any{"r": first}).String("refreshToken.refreshToken")
		if e := anon.Fail(`mutation($r: String!) { refreshToken(input: {refreshToken: $r}) { accessToken } }`, map[string]any{"r": first}); e.Code() != "UNAUTHENTICATED" {
			t.Errorf("reused refresh token: %+v", e)
		}
		if e := anon.Fail(`mutation($r: String!) { refreshToken(input: {refreshToken: $r}) { accessToken } }`, map[string]any{"r": second}); e.Code() != "UNAUTHENTICATED" {
			t.Errorf("the family survived a reuse: %+v", e)
		}
		// A new session, then logout ends it.
		again := anon.Must(`mutation { login(input: {email: "jane@example.test", password: "correct horse battery"}) { refreshToken } }`, nil).String("login.refreshToken")
		anon.Must(`mutation($r: String!) { logout(input: {refreshToken: $r}) { ok } }`, map[string]any{"r": again})
		if e := anon.Fail(`mutation($r: String!) { refreshToken(input: {refreshToken: $r}) { accessToken } }`, map[string]any{"r": again}); e.Code() != "UNAUTHENTICATED" {
			t.Errorf("refresh after logout: %+v", e)
		}
		// Jane cannot administer.
		if e := jane.Fail(`mutation { createUser(input: {userName: "x", email: "x@example.test"}) { user { id } } }`, nil); e.Code() != "FORBIDDEN" {
			t.Errorf("jane creating a user: %+v", e)
		}
		// Suspending Jane ends her sessions at once; lifting it lets her sign in again.
		live := anon.Must(`mutation { login(input: {email: "jane@example.test", password: "correct horse battery"}) { accessToken refreshToken } }`, nil)
		janeID := login.String("login.userId")
		acme.Must(`mutation($u: ID!) { updateUser(input: {id: $u, suspended: true}) { user { status } } }`, map[string]any{"u": janeID})
		if r := env.Client(live.String("login.accessToken")).Do(`{ viewer { id } }`, nil); r.Status != 401 {
			t.Errorf("a suspended user's access token: HTTP %d", r.Status)
		}
		if e := anon.Fail(`mutation($r: String!) { refreshToken(input: {refreshToken: $r}) { accessToken } }`, map[string]any{"r": live.String("login.refreshToken")}); e.Code() != "UNAUTHENTICATED" {
			t.Errorf("a suspended user's refresh token: %+v", e)
		}
		if e := anon.Fail(`mutation { login(input: {email: "jane@example.test", password: "correct horse battery"}) { accessToken } }`, nil); e.Code() != "UNAUTHENTICATED" {
			t.Errorf("a suspended user's login: %+v", e)
		}
		if st := acme.Must(`mutation($u: ID!) { updateUser(input: {id: $u, suspended: false}) { user { status } } }`, map[string]any{"u": janeID}); st.String("updateUser.user.status") != "ACTIVE" {
			t.Errorf("lifting the suspension: %v", st.Data)
		}
		// A bulk deactivation ends the sessions of the whole selection: reactivating
		// does not bring them back.
		session := anon.Must(`mutation { login(input: {email: "jane@example.test", password: "correct horse battery"}) { refreshToken } }`, nil).String("login.refreshToken")
		for _, active := range []bool{false, true} {
			acme.Must(`mutation($u: ID!, $a: Boolean!) { bulkSetActive(input: {selection: {userIds: [$u]}, active: $a}) { affectedCount } }`,
				map[string]any{"u": janeID, "a": active})
		}
		if e := anon.Fail(`mutation($r: String!) { refreshToken(input: {refreshToken: $r}) { accessToken } }`, map[string]any{"r": session}); e.Code() != "UNAUTHENTICATED" {
			t.Errorf("a session survived a bulk deactivation: %+v", e)
		}

		// Bob has a login in acme; globex adds him: a link invitation.
		acme.Must(`mutation { createUser(input: {userName: "bob", email: "bob@example.test"}) { user { id } } }`, nil)
		bobSetup := deliver(2)
		anon.Must(`mutation($t: String!) { acceptInvitation(input: {token: $t, password: "bob's long password"}) { userName } }`, map[string]any{"t": bobSetup[len(bobSetup)-1]})
		globex, globexBoot := env.Bootstrap("globex", "admin@globex.test")
		globex.Must(`mutation { createUser(input: {userName: "robert", email: "bob@example.test"}) { user { id } } }`, nil)
		linkTokens := deliver(3)
		msgs := smtp.Messages()
		if p, _ := mailtest.Parse(msgs[len(msgs)-1].Raw); p == nil || !regexp.MustCompile(`(?i)link`).MatchString(p.Subject+p.Text) {
			t.Errorf("the link invitation does not say it links: %v", p)
		}
		if e := anon.Fail(`mutation($t: String!) { acceptInvitation(input: {token: $t, password: "a different password"}) { userName } }`,
			map[string]any{"t": linkTokens[len(linkTokens)-1]}); e.Code() == "" {
			t.Error("a link invitation accepted another password")
		}
		anon.Must(`mutation($t: String!) { acceptInvitation(input: {token: $t, password: "bob's long password"}) { userName } }`, map[string]any{"t": linkTokens[len(linkTokens)-1]})
		// One password opens both accounts: which one is asked.
		if e := anon.Fail(`mutation { login(input: {email: "bob@example.test", password: "bob's long password"}) { accessToken } }`, nil); e.Code() != "BAD_USER_INPUT" || e.Field() != "accountId" {
			t.Errorf("login to two accounts without accountId: %+v", e)
		}
		for _, acct := range []string{acmeBoot.AccountID, globexBoot.AccountID} {
			tok := anon.Must(`mutation($a: ID) { login(input: {email: "bob@example.test", password: "bob's long password", accountId: $a}) { accessToken accountId } }`,
				map[string]any{"a": acct})
			if tok.String("login.accountId") != acct {
				t.Errorf("login to %s: %v", acct, tok.Data)
			}
			if env.Client(tok.String("login.accessToken")).Must(`{ account { name } }`, nil).String("account.name") == "" {
				t.Error("the token does not open its account")
			}
		}
	})
}

// TestLoginRateLimit: guessing a password is slowed per login; unknown and known
// emails are treated alike.
func TestLoginRateLimit(t *testing.T) {
	env := apptest.New(t, storetest.SQLite(t), app.Config{})
	anon := env.Client("")
	for _, email := range []string{"admin@acme.test", "nobody@acme.test"} {
		if email == "admin@acme.test" {
			env.Bootstrap("acme", email)
		}
		codes := []string{}
		for range 6 {
			codes = append(codes, anon.Fail(`mutation($e: String!) { login(input: {email: $e, password: "not the password"}) { accessToken } }`,
				map[string]any{"e": email}).Code())
		}
		if codes[4] != "UNAUTHENTICATED" || codes[5] != "TOO_MANY_REQUESTS" {
			t.Errorf("%s: attempts answered %v", email, codes)
		}
	}
}
