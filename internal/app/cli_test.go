package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// run is one command-line invocation.
type run struct {
	code           int
	stdout, stderr string
}

// latchkey runs the command line in-process.
func latchkey(t testing.TB, ctx context.Context, args ...string) run {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := app.Main(ctx, args, &stdout, &stderr)
	return run{code, stdout.String(), stderr.String()}
}

// bootstrapOutput is what bootstrap prints (SPEC §6).
type bootstrapOutput struct {
	AccountID   string    `json:"accountId"`
	UserID      string    `json:"userId"`
	AccessToken string    `json:"accessToken"`
	ScimToken   string    `json:"scimToken"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// decodeOne decodes stdout as exactly one JSON object.
func decodeOne(t *testing.T, stdout string) bootstrapOutput {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var out bootstrapOutput
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("bootstrap did not print a JSON object (%v): %q", err, stdout)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		t.Errorf("bootstrap printed more than one JSON object: %q", stdout)
	}
	if out.AccountID == "" || out.UserID == "" || out.AccessToken == "" {
		t.Errorf("bootstrap output lacks accountId, userId or accessToken: %q", stdout)
	}
	return out
}

// TestCommandLine drives migrate, bootstrap and token through app.Main against a
// database file (and a MySQL database when LATCHKEY_TEST_MYSQL_DSN is set), and
// checks the credentials they print against a server over the same database.
func TestCommandLine(t *testing.T) { eachDatabaseURL(t, testCommandLine) }

// eachDatabaseURL runs fn as subtests "sqlite" (a database file) and "mysql" (a fresh
// database; skipped unless LATCHKEY_TEST_MYSQL_DSN is set), with the database's URL
// as the commands take it.
func eachDatabaseURL(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, "sqlite://"+filepath.ToSlash(filepath.Join(t.TempDir(), "x.db")))
	})
	t.Run("mysql", func(t *testing.T) {
		fn(t, storetest.CreateMySQLDatabase(t))
	})
}

func testCommandLine(t *testing.T, dbURL string) {
	ctx := t.Context()
	db := []string{"--database", dbURL, "--log-level", "error"}
	cmd := func(name string, args ...string) []string { return append(append([]string{name}, db...), args...) }

	if r := latchkey(t, ctx, cmd("migrate")...); r.code != 0 || !strings.Contains(r.stdout, "up to date") {
		t.Fatalf("migrate: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := latchkey(t, ctx, cmd("migrate")...); r.code != 0 {
		t.Fatalf("migrate again: exit %d, stderr %q", r.code, r.stderr)
	}

	r := latchkey(t, ctx, cmd("bootstrap", "--account", "acme", "--email", "admin@acme.test")...)
	if r.code != 0 {
		t.Fatalf("bootstrap: exit %d, stderr %q", r.code, r.stderr)
	}
	boot := decodeOne(t, r.stdout)
	if time.Until(boot.ExpiresAt) <= 0 {
		t.Errorf("bootstrap token expiresAt %v is not in the future", boot.ExpiresAt)
	}
	t.Run("scimToken", func(t *testing.T) {
		if boot.ScimToken == "" {
			t.Errorf("bootstrap prints no scimToken; SPEC §6: bootstrap prints one JSON object with accountId, userId, accessToken and scimToken: %s", r.stdout)
		}
	})

	// A server over the same database accepts the printed token.
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("opening the database the CLI wrote: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	env := apptest.New(t, st, app.Config{})
	whoami := func(token string) *apptest.Response {
		t.Helper()
		return env.Client(token).Do(`{ viewer { id userName status } account { id name } }`, nil)
	}
	if w := whoami(boot.AccessToken); len(w.Errors) > 0 || w.String("viewer.id") != boot.UserID || w.String("viewer.userName") != "admin@acme.test" ||
		w.String("account.id") != boot.AccountID || w.String("account.name") != "acme" {
		t.Fatalf("the bootstrap token against a server over the same database: HTTP %d %v %v", w.Status, w.Data, w.Errors)
	}

	tokenFails := func(t *testing.T, what string, r run, mention string) {
		t.Helper()
		if r.code == 0 {
			t.Errorf("%s: exit 0, stdout %q; want a non-zero exit", what, r.stdout)
		}
		if !strings.Contains(strings.ToLower(r.stderr), mention) {
			t.Errorf("%s: stderr %q does not mention %q", what, r.stderr, mention)
		}
		if strings.Count(r.stdout, ".") >= 2 || strings.Contains(r.stdout, "accessToken") {
			t.Errorf("%s: printed credentials anyway: %q", what, r.stdout)
		}
	}

	t.Run("bootstrap again", func(t *testing.T) {
		tokenFails(t, "bootstrap of an existing account", latchkey(t, ctx, cmd("bootstrap", "--account", "acme", "--email", "other@acme.test")...), "exists")
		// Nothing of the refused bootstrap was written.
		if n := env.Client(boot.AccessToken).Must(`{ users { totalCount } }`, nil).Int("users.totalCount"); n != 1 {
			t.Errorf("acme has %d users after a refused bootstrap, want 1", n)
		}
	})

	t.Run("bootstrap refused input", func(t *testing.T) {
		tokenFails(t, "bootstrap with a bad email", latchkey(t, ctx, cmd("bootstrap", "--account", "broken", "--email", "not-an-email")...), "email")
		tokenFails(t, "bootstrap with a blank account", latchkey(t, ctx, cmd("bootstrap", "--account", "  ", "--email", "a@b.test")...), "account")
		tokenFails(t, "bootstrap without --email", latchkey(t, ctx, cmd("bootstrap", "--account", "broken")...), "email")
		tokenFails(t, "bootstrap with an unknown flag", latchkey(t, ctx, cmd("bootstrap", "--account", "broken", "--email", "ok@broken.test", "--frobnicate")...), "frobnicate")
		// The account of a refused bootstrap was rolled back: its name is free.
		r := latchkey(t, ctx, cmd("bootstrap", "--account", "broken", "--email", "ok@broken.test")...)
		if r.code != 0 {
			t.Fatalf("bootstrap after refused attempts: exit %d, stderr %q (a refused bootstrap left its account behind)", r.code, r.stderr)
		}
		decodeOne(t, r.stdout)
	})

	t.Run("bootstrap with password", func(t *testing.T) {
		r := latchkey(t, ctx, cmd("bootstrap", "--account", "initech", "--email", "boss@initech.test", "--password", "correct horse battery staple")...)
		if r.code != 0 {
			t.Fatalf("bootstrap --password: exit %d, stderr %q", r.code, r.stderr)
		}
		out := decodeOne(t, r.stdout)
		if w := whoami(out.AccessToken); w.String("viewer.status") != "ACTIVE" || w.String("account.name") != "initech" {
			t.Errorf("an Admin bootstrapped with a password: %v %v, want ACTIVE in initech", w.Data, w.Errors)
		}
		if strings.Contains(r.stdout, "correct horse") || strings.Contains(r.stderr, "correct horse") {
			t.Errorf("bootstrap echoed the password")
		}
	})

	t.Run("token", func(t *testing.T) {
		for _, email := range []string{"admin@acme.test", "ADMIN@acme.test"} {
			r := latchkey(t, ctx, cmd("token", "--account", "acme", "--email", email)...)
			token := strings.TrimSpace(r.stdout)
			if r.code != 0 || token == "" || strings.Contains(token, "\n") {
				t.Errorf("token --email %s: exit %d, stdout %q, stderr %q; want one token line", email, r.code, r.stdout, r.stderr)
				continue
			}
			if w := whoami(token); len(w.Errors) > 0 || w.String("viewer.id") != boot.UserID || w.String("account.name") != "acme" {
				t.Errorf("the token of token --email %s: HTTP %d %v %v", email, w.Status, w.Data, w.Errors)
			}
		}
		tokenFails(t, "token for an unknown account", latchkey(t, ctx, cmd("token", "--account", "nope", "--email", "admin@acme.test")...), "nope")
		tokenFails(t, "token for an unknown email", latchkey(t, ctx, cmd("token", "--account", "acme", "--email", "ghost@acme.test")...), "ghost@acme.test")
		tokenFails(t, "token for another account's user", latchkey(t, ctx, cmd("token", "--account", "acme", "--email", "ok@broken.test")...), "ok@broken.test")
		tokenFails(t, "token without --account", latchkey(t, ctx, cmd("token", "--email", "admin@acme.test")...), "account")
	})

	t.Run("flags", func(t *testing.T) {
		for _, args := range [][]string{
			cmd("migrate", "--bogus"),
			cmd("token", "--account", "acme", "--email", "admin@acme.test", "--no-such-flag", "1"),
			{"migrate", "--database", "postgres://localhost/x", "--log-level", "error"},
		} {
			if r := latchkey(t, ctx, args...); r.code == 0 {
				t.Errorf("%v: exit 0, want non-zero", args)
			} else if r.stderr == "" {
				t.Errorf("%v: non-zero exit without a message on stderr", args)
			}
		}
		// Main writes what it prints to the writers it is given, usage included.
		if r := latchkey(t, ctx, "--help"); r.code != 0 || !strings.Contains(r.stdout+r.stderr, "bootstrap") {
			t.Errorf("--help: exit %d; the usage text did not reach Main's stdout or stderr writer (stdout %q, stderr %q): "+
				"the cli.Command's Writer and ErrWriter are left at os.Stdout and os.Stderr", r.code, r.stdout, r.stderr)
		}
		if r := latchkey(t, ctx, cmd("migrate", "--bogus")...); !strings.Contains(r.stderr, "bogus") {
			t.Errorf("migrate --bogus: stderr %q does not name the unknown flag", r.stderr)
		}
		// An unknown subcommand must not fall through to serving.
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		start := time.Now()
		r := latchkey(t, sctx, "--addr", "127.0.0.1:0", "--database", dbURL, "--log-level", "error", "migrat")
		if r.code == 0 {
			t.Errorf("an unknown subcommand (\"migrat\") exits 0 after %v: the root command's serve action took it as an argument and served until cancelled", time.Since(start).Round(100*time.Millisecond))
		}
	})

	t.Run("environment", func(t *testing.T) {
		t.Setenv("LATCHKEY_DATABASE", dbURL)
		t.Setenv("LATCHKEY_LOG_LEVEL", "error")
		r := latchkey(t, ctx, "token", "--account", "acme", "--email", "admin@acme.test")
		if r.code != 0 {
			t.Fatalf("token with LATCHKEY_DATABASE: exit %d, stderr %q", r.code, r.stderr)
		}
		if w := whoami(strings.TrimSpace(r.stdout)); w.String("viewer.id") != boot.UserID {
			t.Errorf("the token printed with LATCHKEY_DATABASE: %v %v", w.Data, w.Errors)
		}
		if r := latchkey(t, ctx, "migrate"); r.code != 0 {
			t.Errorf("migrate with LATCHKEY_DATABASE: exit %d, stderr %q", r.code, r.stderr)
		}

		t.Setenv("LATCHKEY_TOKEN_TTL", "2m")
		r = latchkey(t, ctx, "bootstrap", "--account", "globex", "--email", "admin@globex.test")
		if r.code != 0 {
			t.Fatalf("bootstrap with LATCHKEY_TOKEN_TTL: exit %d, stderr %q", r.code, r.stderr)
		}
		if left := time.Until(decodeOne(t, r.stdout).ExpiresAt); left > 2*time.Minute || left < time.Minute {
			t.Errorf("LATCHKEY_TOKEN_TTL=2m gave a token expiring in %v", left)
		}
		// A flag wins over its environment twin.
		r = latchkey(t, ctx, "bootstrap", "--account", "hooli", "--email", "admin@hooli.test", "--token-ttl", "10m")
		if r.code != 0 {
			t.Fatalf("bootstrap --token-ttl: exit %d, stderr %q", r.code, r.stderr)
		}
		if left := time.Until(decodeOne(t, r.stdout).ExpiresAt); left > 10*time.Minute || left < 9*time.Minute {
			t.Errorf("--token-ttl 10m with LATCHKEY_TOKEN_TTL=2m gave a token expiring in %v", left)
		}
		t.Setenv("LATCHKEY_DATABASE", "sqlite://"+filepath.ToSlash(filepath.Join(t.TempDir(), "other.db")))
		if r := latchkey(t, ctx, cmd("token", "--account", "acme", "--email", "admin@acme.test")...); r.code != 0 {
			t.Errorf("--database must win over LATCHKEY_DATABASE: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}
