package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"latchkey/ent"
	"latchkey/ent/user"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
	"latchkey/internal/viewer"
)

// jwksServer serves a JWK Set per path, which a test can change, and counts fetches.
type jwksServer struct {
	mu      sync.Mutex
	sets    map[string][]jwkset.JWKMarshal
	fetches map[string]int
	srv     *httptest.Server
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	j := &jwksServer{sets: map[string][]jwkset.JWKMarshal{}, fetches: map[string]int{}}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.mu.Lock()
		keys, ok := j.sets[r.URL.Path]
		j.fetches[r.URL.Path]++
		j.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: keys})
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jwksServer) set(path string, keys ...jwkset.JWKMarshal) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.sets[path] = keys
}

func (j *jwksServer) count(path string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.fetches[path]
}

func (j *jwksServer) url(path string) string { return j.srv.URL + path }

// jwkOf is pub as a JWK with the given kid and alg.
func jwkOf(t *testing.T, pub crypto.PublicKey, kid, alg string) jwkset.JWKMarshal {
	t.Helper()
	k, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.ALG(alg), USE: jwkset.UseSig},
	})
	if err != nil {
		t.Fatal(err)
	}
	return k.Marshal()
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// logBuffer is a goroutine-safe log sink (JWKS refreshes log from their own goroutines).
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

// refusal is the message and code of a 401 answer.
func refusal(t *testing.T, rec *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	var body struct {
		Errors []struct {
			Message    string
			Extensions struct{ Code string }
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	return body.Errors[0].Extensions.Code, body.Errors[0].Message
}

func TestExternalIssuers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		client := st.Client
		acct := newAccount(t, client, "acme")
		globex := newAccount(t, client, "globex")
		jane := newUser(t, client, acct, "Jane", func(c *ent.UserCreate) { c.SetExternalID("ext-jane") })
		newUser(t, client, acct, "Twin1", func(c *ent.UserCreate) { c.SetEmail("twin@acme.test") })
		newUser(t, client, acct, "Twin2", func(c *ent.UserCreate) { c.SetEmail("twin@acme.test") })
		newUser(t, client, acct, "Sam", func(c *ent.UserCreate) { c.SetStatus(user.StatusSUSPENDED) })
		newUser(t, client, globex, "Gina", func(c *ent.UserCreate) { c.SetExternalID("ext-gina") })

		rsaA, ecA, ecB, rsaB, edC := rsaKey(t, 0), newECKey(t), newECKey(t), rsaKey(t, 1), newEd25519(t)
		jwks := newJWKSServer(t)
		jwks.set("/a", jwkOf(t, rsaA.Public(), "a-rsa", "RS256"), jwkOf(t, ecA.Public(), "a-ec", "ES256"))
		jwks.set("/b", jwkOf(t, ecB.Public(), "b-ec", "ES256"), jwkOf(t, rsaB.Public(), "b-rsa", "RS256"))
		jwks.set("/c", jwkOf(t, edC.Public(), "c-ed", "EdDSA"))
		const issA, issB, issC = "https://idp-a.test", "https://idp-b.test/tenant/", "https://idp-c.test"
		ext, err := NewExternalVerifier([]ExternalIssuer{
			{Issuer: issA, JWKSURL: jwks.url("/a"), Audience: "latchkey-a", UserClaim: ClaimEmail, AccountID: acct.ID},
			{Issuer: issB, JWKSURL: jwks.url("/b"), Audience: "latchkey-b", UserClaim: ClaimSub, Account: "acme", Algorithms: []string{"ES256"}},
			{Issuer: issC, JWKSURL: jwks.url("/c"), Audience: "latchkey-c", UserClaim: ClaimPreferredUsername, Account: "acme", Algorithms: []string{"EdDSA"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ext.Close)
		var logs logBuffer
		s := newService(t, client, nil, nil, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), WithExternalIssuers(ext))
		own, _, err := s.Issue(ctx, Subject{AccountID: acct.ID, UserID: jane.ID})
		if err != nil {
			t.Fatal(err)
		}

		now := time.Now()
		claimsFor := func(iss, aud string, extra jwt.MapClaims) jwt.MapClaims {
			c := jwt.MapClaims{"iss": iss, "aud": aud, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
			maps.Copy(c, extra)
			for k, v := range c {
				if v == nil {
					delete(c, k)
				}
			}
			return c
		}
		aClaims := func(extra jwt.MapClaims) jwt.MapClaims {
			base := jwt.MapClaims{"email": "JANE@Acme.Test"}
			maps.Copy(base, extra)
			return claimsFor(issA, "latchkey-a", base)
		}
		pubPEM := func() []byte {
			der, err := x509.MarshalPKIXPublicKey(rsaA.Public())
			if err != nil {
				t.Fatal(err)
			}
			return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		}()
		none := func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, aClaims(nil))
			tok.Header["kid"] = "a-rsa"
			s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}()
		rs256, es256 := jwt.SigningMethodRS256, jwt.SigningMethodES256

		tests := []struct {
			name   string
			token  string
			user   *ent.User
			reason string
		}{
			{name: "email, RS256, any case", token: sign(t, rs256, rsaA, "a-rsa", aClaims(nil)), user: jane},
			{name: "email, ES256", token: sign(t, es256, ecA, "a-ec", aClaims(nil)), user: jane},
			{name: "audience in a list", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"aud": []string{"other", "latchkey-a"}})), user: jane},
			{name: "no kid: the keys that fit are tried", token: sign(t, rs256, rsaA, "", aClaims(nil)), user: jane},
			{name: "expired within the leeway", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"exp": now.Add(-10 * time.Second).Unix()})), user: jane},
			{name: "email_verified true", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"email_verified": true})), user: jane},
			{name: "sub maps to externalId", token: sign(t, es256, ecB, "b-ec", claimsFor(issB, "latchkey-b", jwt.MapClaims{"sub": "ext-jane"})), user: jane},
			{name: "preferred_username maps to userName", token: sign(t, jwt.SigningMethodEdDSA, edC, "c-ed", claimsFor(issC, "latchkey-c", jwt.MapClaims{"preferred_username": "JANE"})), user: jane},
			{name: "Latchkey's own token still works", token: own, user: jane},

			{name: "alg none", token: none, reason: "token algorithm none is not allowed"},
			{name: "HS256 keyed with the RSA public key", token: sign(t, jwt.SigningMethodHS256, pubPEM, "a-rsa", aClaims(nil)), reason: "token algorithm HS256 is not allowed"},
			{name: "algorithm not allowed for the issuer", token: sign(t, rs256, rsaB, "b-rsa", claimsFor(issB, "latchkey-b", jwt.MapClaims{"sub": "ext-jane"})), reason: "token algorithm RS256 is not allowed for its issuer"},
			{name: "algorithm not that of the key", token: sign(t, es256, ecA, "a-rsa", aClaims(nil)), reason: "token algorithm ES256 is not allowed for its key"},
			{name: "expired", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix(), "nbf": nil})), reason: "token has expired"},
			{name: "no expiry", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"exp": nil})), reason: "token is missing a required claim"},
			{name: "not valid yet", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"nbf": now.Add(5 * time.Minute).Unix()})), reason: "token is not valid yet"},
			{name: "issued in the future", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"iat": now.Add(5 * time.Minute).Unix()})), reason: "token is issued in the future"},
			{name: "unknown issuer", token: sign(t, rs256, rsaA, "a-rsa", claimsFor("https://evil.test", "latchkey-a", jwt.MapClaims{"email": "jane@acme.test"})), reason: "token has the wrong issuer"},
			{name: "wrong audience", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"aud": "latchkey-b"})), reason: "token has the wrong audience"},
			{name: "no audience", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"aud": nil})), reason: "token is missing a required claim"},
			{name: "unknown kid", token: sign(t, rs256, rsaA, "nobody", aClaims(nil)), reason: "token signed by an unknown key"},
			{name: "another issuer's key", token: sign(t, es256, ecA, "a-ec", claimsFor(issB, "latchkey-b", jwt.MapClaims{"sub": "ext-jane"})), reason: "token signed by an unknown key"},
			{name: "forged signature", token: sign(t, rs256, rsaB, "a-rsa", aClaims(nil)), reason: "invalid token signature"},
			{name: "no user claim", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"email": nil})), reason: "token has no email claim"},
			{name: "email not verified", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"email_verified": false})), reason: "token's email is not verified"},
			{name: "claim names no user", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"email": "nobody@acme.test"})), reason: "no user of the issuer's account matches the token's email"},
			{name: "user of another account", token: sign(t, es256, ecB, "b-ec", claimsFor(issB, "latchkey-b", jwt.MapClaims{"sub": "ext-gina"})), reason: "no user of the issuer's account matches the token's sub"},
			{name: "email of two users", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"email": "twin@acme.test"})), reason: "matches more than one user"},
			{name: "suspended user", token: sign(t, rs256, rsaA, "a-rsa", aClaims(jwt.MapClaims{"email": "sam@acme.test"})), reason: "user is suspended"},
		}

		var seen *viewer.Viewer
		h := s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = viewer.FromContext(r.Context())
			w.WriteHeader(http.StatusNoContent)
		}))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				seen = nil
				logs.Reset()
				r := httptest.NewRequest(http.MethodGet, "/query", nil)
				r.Header.Set("Authorization", "Bearer "+tt.token)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				if tt.user != nil {
					if rec.Code != http.StatusNoContent {
						t.Fatalf("status %d: %s (log %s)", rec.Code, rec.Body, logs.String())
					}
					if seen == nil || seen.AccountID != acct.ID || seen.Kind != viewer.KindUser ||
						seen.ActorID != tt.user.ID || seen.Actor != "user:"+tt.user.UserName {
						t.Errorf("viewer = %+v", seen)
					}
					return
				}
				if seen != nil || rec.Code != http.StatusUnauthorized {
					t.Fatalf("status %d, viewer %+v; want 401", rec.Code, seen)
				}
				code, msg := refusal(t, rec)
				if code != "UNAUTHENTICATED" || !strings.Contains(msg, tt.reason) {
					t.Errorf("refused with %s %q, want UNAUTHENTICATED %q", code, msg, tt.reason)
				}
				if l := logs.String(); !strings.Contains(l, "authentication refused") || !strings.Contains(l, tt.reason) {
					t.Errorf("log %q does not say why", l)
				}
				if strings.Contains(logs.String(), tt.token) {
					t.Error("the token was logged")
				}
			})
		}

		// Each JWKS was fetched once, when its issuer's first token came, plus
		// once for the unknown kid; the rest came from the cache.
		if n := jwks.count("/a"); n != 2 {
			t.Errorf("issuer A's JWKS fetched %d times, want 2 (first use, unknown kid)", n)
		}
		if n := jwks.count("/c"); n != 1 {
			t.Errorf("issuer C's JWKS fetched %d times, want 1", n)
		}
	})
}

func TestExternalJWKSRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		client := st.Client
		acct := newAccount(t, client, "acme")
		jane := newUser(t, client, acct, "Jane", nil)
		oldKey, newKey := rsaKey(t, 0), rsaKey(t, 1)
		jwks := newJWKSServer(t)
		jwks.set("/jwks", jwkOf(t, oldKey.Public(), "k1", "RS256"))
		const iss = "https://idp.test"
		ext, err := NewExternalVerifier([]ExternalIssuer{
			{Issuer: iss, JWKSURL: jwks.url("/jwks"), Audience: "latchkey", AccountID: acct.ID},
		}, WithJWKSUnknownKIDRefresh(time.Millisecond), WithExternalLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ext.Close)
		s := newService(t, client, nil, nil, WithLogger(slog.New(slog.DiscardHandler)), WithExternalIssuers(ext))
		claims := func() jwt.MapClaims {
			now := time.Now()
			return jwt.MapClaims{"iss": iss, "aud": "latchkey", "email": "jane@acme.test", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
		}
		check := func(token string, ok bool) {
			t.Helper()
			r := httptest.NewRequest(http.MethodGet, "/query", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			var seen *viewer.Viewer
			s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = viewer.FromContext(r.Context())
			})).ServeHTTP(rec, r)
			if ok && (rec.Code != http.StatusOK || seen == nil || seen.ActorID != jane.ID) {
				t.Fatalf("status %d, body %s; want jane", rec.Code, rec.Body)
			}
			if !ok && rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", rec.Code)
			}
		}

		oldToken := sign(t, jwt.SigningMethodRS256, oldKey, "k1", claims())
		check(oldToken, true)
		check(oldToken, true)
		if n := jwks.count("/jwks"); n != 1 {
			t.Fatalf("JWKS fetched %d times, want 1", n)
		}

		// The issuer rotates: k2 replaces k1. The first token signed with k2
		// makes Latchkey fetch the JWKS again.
		jwks.set("/jwks", jwkOf(t, newKey.Public(), "k2", "RS256"))
		check(sign(t, jwt.SigningMethodRS256, newKey, "k2", claims()), true)
		if n := jwks.count("/jwks"); n != 2 {
			t.Fatalf("JWKS fetched %d times, want 2", n)
		}
		// k1 is gone from the refreshed set, so its tokens no longer verify.
		check(oldToken, false)
	})
}

func TestParseExternalIssuers(t *testing.T) {
	good := `{"issuer":"https://idp.test","jwks_url":"https://idp.test/jwks","audience":"lk","account":"acme"}`
	tests := []struct {
		name string
		json string
		want []ExternalIssuer
		err  string
	}{
		{name: "blank", json: "  "},
		{name: "empty list", json: "[]", want: []ExternalIssuer{}},
		{name: "defaults", json: "[" + good + "]", want: []ExternalIssuer{{
			Issuer: "https://idp.test", JWKSURL: "https://idp.test/jwks", Audience: "lk",
			Algorithms: []string{"RS256", "ES256"}, UserClaim: "email", Account: "acme",
		}}},
		{name: "everything", json: `[{"issuer":"https://a","jwks_url":"http://127.0.0.1:8080/k","audience":"x",
			"algorithms":["PS256","EdDSA"],"user_claim":"preferred_username","account_id":7}]`,
			want: []ExternalIssuer{{Issuer: "https://a", JWKSURL: "http://127.0.0.1:8080/k", Audience: "x",
				Algorithms: []string{"PS256", "EdDSA"}, UserClaim: "preferred_username", AccountID: 7}}},
		{name: "not an array", json: good, err: "JSON array"},
		{name: "trailing data", json: "[" + good + "] []", err: "after the JSON array"},
		{name: "unknown field", json: `[{"issuer":"https://a","jwks":"https://a/k","audience":"x","account":"a"}]`, err: "unknown field"},
		{name: "no issuer", json: `[{"jwks_url":"https://a/k","audience":"x","account":"a"}]`, err: "issuer is required"},
		{name: "own issuer", json: `[{"issuer":"latchkey","jwks_url":"https://a/k","audience":"x","account":"a"}]`, err: "Latchkey's own"},
		{name: "no audience", json: `[{"issuer":"https://a","jwks_url":"https://a/k","account":"a"}]`, err: "audience is required"},
		{name: "plain http", json: `[{"issuer":"https://a","jwks_url":"http://a/k","audience":"x","account":"a"}]`, err: "must use https"},
		{name: "relative URL", json: `[{"issuer":"https://a","jwks_url":"/k","audience":"x","account":"a"}]`, err: "not an absolute URL"},
		{name: "alg none", json: `[{"issuer":"https://a","jwks_url":"https://a/k","audience":"x","account":"a","algorithms":["none"]}]`, err: `algorithm "none" is not allowed`},
		{name: "HMAC", json: `[{"issuer":"https://a","jwks_url":"https://a/k","audience":"x","account":"a","algorithms":["RS256","HS256"]}]`, err: `algorithm "HS256" is not allowed`},
		{name: "bad claim", json: `[{"issuer":"https://a","jwks_url":"https://a/k","audience":"x","account":"a","user_claim":"name"}]`, err: `user_claim "name"`},
		{name: "no account", json: `[{"issuer":"https://a","jwks_url":"https://a/k","audience":"x"}]`, err: "exactly one account"},
		{name: "two accounts", json: `[{"issuer":"https://a","jwks_url":"https://a/k","audience":"x","account":"a","account_id":3}]`, err: "exactly one account"},
		{name: "twice", json: "[" + good + "," + good + "]", err: "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExternalIssuers(tt.json)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Issuer != w.Issuer || g.JWKSURL != w.JWKSURL || g.Audience != w.Audience ||
					strings.Join(g.Algorithms, ",") != strings.Join(w.Algorithms, ",") ||
					g.UserClaim != w.UserClaim || g.AccountID != w.AccountID || g.Account != w.Account {
					t.Errorf("got %+v, want %+v", g, w)
				}
			}
		})
	}
}
