package auth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/golang-jwt/jwt/v5"
	_ "modernc.org/sqlite"

	"latchkey/ent"
	"latchkey/ent/privacy"
	_ "latchkey/ent/runtime" // registers the privacy policies
	"latchkey/internal/viewer"
)

// newClient opens a throw-away SQLite store with the schema created.
func newClient(t *testing.T) *ent.Client {
	t.Helper()
	client, _ := openStore(t)
	return client
}

// openStore is newClient that also returns the database underneath.
func openStore(t *testing.T) (*ent.Client, *sql.DB) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "t.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	client := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.SQLite, db)))
	t.Cleanup(func() { client.Close() })
	if err := client.Schema.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	return client, db
}

func newAccount(t *testing.T, client *ent.Client, name string) *ent.Account {
	t.Helper()
	acct, err := client.Account.Create().SetName(name).Save(privacy.DecisionContext(context.Background(), privacy.Allow))
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

// newUser creates an active user; edit may change it before it is saved.
func newUser(t *testing.T, client *ent.Client, acct *ent.Account, name string, edit func(*ent.UserCreate)) *ent.User {
	t.Helper()
	c := client.User.Create().
		SetUserName(name).
		SetUserNameKey(strings.ToLower(name)).
		SetEmail(strings.ToLower(name) + "@acme.test")
	if edit != nil {
		edit(c)
	}
	u, err := c.Save(viewer.System(context.Background(), acct.ID, "test"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// clock is a settable time source shared by a Service and its Keys.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newService returns a Service over fresh Keys, both on clk when it is not nil.
func newService(t *testing.T, client *ent.Client, clk *clock, keyOpts []KeyOption, opts ...Option) *Service {
	t.Helper()
	keys := NewKeys(client, keyOpts...)
	s := NewService(client, keys, opts...)
	if clk != nil {
		keys.now, s.now = clk.Now, clk.Now
	}
	return s
}

// writeKeyFile writes priv as a PEM PKCS#8 key file and returns its path.
func writeKeyFile(t *testing.T, priv crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, "PRIVATE KEY", der)
}

func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

var (
	rsaOnce sync.Once
	rsaKeys [2]*rsa.PrivateKey
)

// rsaKey returns one of two RSA keys, generated once for the whole test run.
func rsaKey(t *testing.T, i int) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[j] = k
		}
	})
	return rsaKeys[i]
}

// goodClaims are the claims Issue would write for sub at now.
func goodClaims(s *Service, sub Subject, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":  s.issuer,
		"aud":  []string{s.audience},
		"sub":  strconv.Itoa(sub.UserID),
		"acct": sub.AccountID,
		"iat":  now.Unix(),
		"nbf":  now.Unix(),
		"exp":  now.Add(s.ttl).Unix(),
		"jti":  "test",
	}
}

// sign makes a token by hand: any algorithm, any key, any kid ("" for none).
func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// current returns the key s signs with now.
func current(t *testing.T, s *Service) *signingKey {
	t.Helper()
	sk, err := s.keys.signer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

// headerKid reads a token's kid without verifying it.
func headerKid(t *testing.T, token string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

func signingKeyCount(t *testing.T, client *ent.Client) int {
	t.Helper()
	n, err := client.SigningKey.Query().Count(allow(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
