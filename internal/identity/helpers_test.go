package identity

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"sync"
	"testing"
	"time"

	"latchkey/ent"
	"latchkey/ent/privacy"
	"latchkey/internal/access"
	"latchkey/internal/admin"
	"latchkey/internal/auth"
	"latchkey/internal/mail"
	"latchkey/internal/mail/mailtest"
	"latchkey/internal/problem"
	"latchkey/internal/store"
	"latchkey/internal/viewer"
)

var bg = context.Background()

const baseURL = "https://admin.acme.test/app/"

// clock is the identity service's settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one store with the identity service, an SMTP server captured by the test
// and the outbox sender delivering to it.
type env struct {
	st     *store.Store
	client *ent.Client
	svc    *Service
	authn  *auth.Service
	clk    *clock
	smtp   *mailtest.Server
	sender *mail.Sender
	seen   int // messages already read from smtp
}

func newEnv(t *testing.T, st *store.Store) *env {
	t.Helper()
	keys := auth.NewKeys(st.Client, auth.WithKeyLogger(slog.New(slog.DiscardHandler)))
	if err := keys.Ensure(bg); err != nil {
		t.Fatal(err)
	}
	authn := auth.NewService(st.Client, keys, auth.WithLogger(slog.New(slog.DiscardHandler)))
	svc, err := New(Config{BaseURL: baseURL}, authn)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().UTC().Truncate(time.Microsecond)}
	svc.now = clk.Now
	srv := mailtest.Start(t, mailtest.Options{User: "mailer", Password: "mail-secret"})
	sender, err := mail.NewSender(st.Client, mail.Config{
		SMTPURL: srv.URL(), From: "Latchkey <no-reply@latchkey.test>",
		InsecureSkipVerify: true, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, client: st.Client, svc: svc, authn: authn, clk: clk, smtp: srv, sender: sender}
}

// tx runs fn in a transaction as the GraphQL layer does: committed when fn
// succeeds, rolled back when it fails — except after a refresh-token reuse, whose
// revocation must be committed (ErrRefreshTokenReused).
func (e *env) tx(t *testing.T, fn func(c *ent.Client) error) error {
	t.Helper()
	tx, err := e.client.Tx(bg)
	if err != nil {
		t.Fatal(err)
	}
	ferr := fn(tx.Client())
	if ferr != nil && !errors.Is(ferr, ErrRefreshTokenReused) {
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		return ferr
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return ferr
}

// account creates an account and returns it with a system context inside it.
func (e *env) account(t *testing.T, name string) (*ent.Account, context.Context) {
	t.Helper()
	acct, sys, err := access.CreateAccount(bg, e.client, name)
	if err != nil {
		t.Fatal(err)
	}
	return acct, sys
}

// invite creates a user and invites them, in one transaction as createUser would.
func (e *env) invite(t *testing.T, sys context.Context, userName, email string) (*ent.User, *ent.Invitation) {
	t.Helper()
	var (
		u   *ent.User
		inv *ent.Invitation
	)
	err := e.tx(t, func(c *ent.Client) error {
		var err error
		if u, err = admin.CreateUser(sys, c, admin.CreateUserInput{UserName: userName, Email: email, GivenName: ptr("Jane")}); err != nil {
			return err
		}
		inv, _, err = e.svc.Invite(bg, c, u)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return u, inv
}

// deliver runs the sender and returns the one message it delivered, as read by
// the SMTP server.
func (e *env) deliver(t *testing.T) *mailtest.Parsed {
	t.Helper()
	sent, err := e.sender.SendDue(bg)
	if err != nil || sent != 1 {
		t.Fatalf("SendDue = %d, %v; want 1 message", sent, err)
	}
	got := e.smtp.Wait(t, e.seen+1)
	raw := got[e.seen]
	e.seen++
	p, err := mailtest.Parse(raw.Raw)
	if err != nil {
		t.Fatal(err)
	}
	p.Header["X-Envelope-To"] = raw.To
	return p
}

// onboard creates a user, invites them, delivers the invitation and accepts it
// with password.
func (e *env) onboard(t *testing.T, sys context.Context, userName, email, password string) *ent.User {
	t.Helper()
	e.invite(t, sys, userName, email)
	token := linkToken(t, e.deliver(t).Text, "/invitation")
	var u *ent.User
	if err := e.tx(t, func(c *ent.Client) (err error) {
		u, err = e.svc.AcceptInvitation(bg, c, token, password)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *env) login(t *testing.T, email, password string, accountID *int) (*Tokens, error) {
	t.Helper()
	var tok *Tokens
	err := e.tx(t, func(c *ent.Client) (err error) {
		tok, err = e.svc.Login(bg, c, email, password, accountID)
		return err
	})
	return tok, err
}

func (e *env) mustLogin(t *testing.T, email, password string, accountID *int) *Tokens {
	t.Helper()
	tok, err := e.login(t, email, password, accountID)
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return tok
}

func (e *env) refresh(t *testing.T, token string) (*Tokens, error) {
	t.Helper()
	var tok *Tokens
	err := e.tx(t, func(c *ent.Client) (err error) {
		tok, err = e.svc.Refresh(bg, c, token)
		return err
	})
	return tok, err
}

// user reads a user back under its account's system context.
func (e *env) user(t *testing.T, u *ent.User) *ent.User {
	t.Helper()
	got, err := e.client.User.Get(viewer.System(bg, u.AccountID, "test"), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func allowCtx() context.Context { return privacy.DecisionContext(bg, privacy.Allow) }

// linkToken finds <baseURL><path>?token=... in text and returns the token.
func linkToken(t *testing.T, text, path string) string {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(baseURL[:len(baseURL)-1]+path+"?token=") + `([A-Za-z0-9_-]+)`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s link in:\n%s", path, text)
	}
	return m[1]
}

// wantProblem checks err is a problem with code, field and (when set) message.
func wantProblem(t *testing.T, err error, code problem.Code, field, message string) {
	t.Helper()
	pe, ok := errors.AsType[*problem.Error](err)
	if !ok {
		t.Fatalf("error %v (%T), want a %s problem", err, err, code)
	}
	if pe.Code != code || pe.Field != field || (message != "" && pe.Message != message) {
		t.Fatalf("problem %s field %q %q, want %s field %q %q", pe.Code, pe.Field, pe.Message, code, field, message)
	}
}

func ptr[T any](v T) *T { return &v }

// userCtx is a request context of user u.
func userCtx(u *ent.User) context.Context {
	return viewer.NewContext(bg, &viewer.Viewer{AccountID: u.AccountID, Kind: viewer.KindUser, ActorID: u.ID, Actor: "user:" + u.UserName})
}
