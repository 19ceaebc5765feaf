package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"latchkey/internal/problem"
)

func TestIssueVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	tests := []struct {
		name     string
		keyOpts  []KeyOption
		opts     []Option
		alg      string
		iss, aud string
		ttl      time.Duration
	}{
		{name: "defaults", alg: AlgEdDSA, iss: "latchkey", aud: "latchkey", ttl: 15 * time.Minute},
		{
			name: "configured", opts: []Option{WithIssuer("https://id.acme.test"), WithAudience("acme-api"), WithTTL(time.Hour)},
			alg: AlgEdDSA, iss: "https://id.acme.test", aud: "acme-api", ttl: time.Hour,
		},
		{
			name: "RSA key file", keyOpts: []KeyOption{WithKeyFile(writeKeyFile(t, rsaKey(t, 0)))},
			alg: AlgRS256, iss: "latchkey", aud: "latchkey", ttl: 15 * time.Minute,
		},
		{
			name: "Ed25519 key file", keyOpts: []KeyOption{WithKeyFile(writeKeyFile(t, newEd25519(t)))},
			alg: AlgEdDSA, iss: "latchkey", aud: "latchkey", ttl: 15 * time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newService(t, client, nil, tt.keyOpts, tt.opts...)
			want := Subject{AccountID: 7, UserID: 42}
			before := time.Now().Truncate(time.Second)
			token, exp, err := s.Issue(ctx, want)
			if err != nil {
				t.Fatal(err)
			}
			if d := exp.Sub(before); d < tt.ttl || d > tt.ttl+2*time.Second {
				t.Errorf("expiry %v after issue, want %v", d, tt.ttl)
			}
			got, err := s.Verify(ctx, token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != want {
				t.Errorf("Verify = %+v, want %+v", got, want)
			}

			tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
			if err != nil {
				t.Fatal(err)
			}
			if tok.Header["alg"] != tt.alg || tok.Header["kid"] != current(t, s).kid {
				t.Errorf("header = %v, want alg %s and the current kid", tok.Header, tt.alg)
			}
			c := tok.Claims.(jwt.MapClaims)
			if c["iss"] != tt.iss || c["sub"] != "42" || c["acct"] != float64(7) || c["jti"] == "" {
				t.Errorf("claims = %v", c)
			}
			if aud, _ := c.GetAudience(); len(aud) != 1 || aud[0] != tt.aud {
				t.Errorf("aud = %v, want %s", aud, tt.aud)
			}
			for _, k := range []string{"iat", "nbf", "exp"} {
				if _, ok := c[k].(float64); !ok {
					t.Errorf("claim %s missing", k)
				}
			}
			if e, _ := c.GetExpirationTime(); !e.Time.Equal(exp) {
				t.Errorf("exp claim %v, Issue returned %v", e.Time, exp)
			}
		})
	}
}

func TestIssueUniqueJTI(t *testing.T) {
	s := newService(t, newClient(t), nil, nil)
	a, _, err := s.Issue(context.Background(), Subject{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.Issue(context.Background(), Subject{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two tokens for the same subject in the same second are identical")
	}
}

func TestIssueRefusesEmptySubject(t *testing.T) {
	s := newService(t, newClient(t), nil, nil)
	for _, sub := range []Subject{{}, {AccountID: 1}, {UserID: 1}} {
		if _, _, err := s.Issue(context.Background(), sub); err == nil {
			t.Errorf("Issue(%+v) succeeded", sub)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	clk := newClock()
	ed := newService(t, client, clk, nil)
	rs := newService(t, client, clk, []KeyOption{WithKeyFile(writeKeyFile(t, rsaKey(t, 0)))})
	edKey, rsKey := current(t, ed), current(t, rs)
	sub := Subject{AccountID: 3, UserID: 9}
	now := clk.Now()

	edPub := edKey.public.(ed25519.PublicKey)
	edPKIX, _ := x509.MarshalPKIXPublicKey(edPub)
	rsPKIX, _ := x509.MarshalPKIXPublicKey(rsKey.public)
	rsPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsPKIX})
	rsPKCS1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey(t, 0).PublicKey)})

	// with returns good claims for svc changed by edit.
	with := func(svc *Service, edit func(jwt.MapClaims)) jwt.MapClaims {
		c := goodClaims(svc, sub, now)
		if edit != nil {
			edit(c)
		}
		return c
	}
	good := sign(t, jwt.SigningMethodEdDSA, edKey.private, edKey.kid, with(ed, nil))
	tampered := func() string {
		parts := strings.Split(good, ".")
		payload, _ := json.Marshal(with(ed, func(c jwt.MapClaims) { c["sub"] = "1" }))
		parts[1] = base64.RawURLEncoding.EncodeToString(payload)
		return strings.Join(parts, ".")
	}()
	// unsigned is a header and payload with an empty signature.
	unsigned := func(header string, c jwt.MapClaims) string {
		payload, _ := json.Marshal(c)
		return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	}

	tests := []struct {
		name  string
		svc   *Service
		token string
		want  string // in the message
	}{
		{"alg none", ed, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, edKey.kid, with(ed, nil)), "algorithm none is not allowed"},
		{"alg none hand-made", ed, unsigned(`{"alg":"none","typ":"JWT","kid":"`+edKey.kid+`"}`, with(ed, nil)), "algorithm none is not allowed"},
		{"alg NONE", ed, unsigned(`{"alg":"NONE","kid":"`+edKey.kid+`"}`, with(ed, nil)), "algorithm is not allowed"},
		{"no alg", ed, unsigned(`{"kid":"`+edKey.kid+`"}`, with(ed, nil)), "algorithm is not allowed"},
		{"HS256 keyed with Ed25519 public key", ed, sign(t, jwt.SigningMethodHS256, []byte(edPub), edKey.kid, with(ed, nil)), "algorithm HS256 is not allowed"},
		{"HS256 keyed with Ed25519 PKIX", ed, sign(t, jwt.SigningMethodHS256, edPKIX, edKey.kid, with(ed, nil)), "algorithm HS256 is not allowed"},
		{"HS256 keyed with RSA public key PEM", rs, sign(t, jwt.SigningMethodHS256, rsPEM, rsKey.kid, with(rs, nil)), "algorithm HS256 is not allowed"},
		{"HS256 keyed with RSA PKCS#1 PEM", rs, sign(t, jwt.SigningMethodHS256, rsPKCS1PEM, rsKey.kid, with(rs, nil)), "algorithm HS256 is not allowed"},
		{"HS512 keyed with RSA public key PEM", rs, sign(t, jwt.SigningMethodHS512, rsPEM, rsKey.kid, with(rs, nil)), "algorithm HS512 is not allowed"},
		{"PS256 with the RSA key", rs, sign(t, jwt.SigningMethodPS256, rsaKey(t, 0), rsKey.kid, with(rs, nil)), "algorithm PS256 is not allowed"},
		{"EdDSA token naming the RSA key", rs, sign(t, jwt.SigningMethodEdDSA, edKey.private, rsKey.kid, with(rs, nil)), "algorithm EdDSA is not allowed"},
		{"RS256 token naming the Ed25519 key", ed, sign(t, jwt.SigningMethodRS256, rsaKey(t, 1), edKey.kid, with(ed, nil)), "algorithm RS256 is not allowed"},
		{"signed by another Ed25519 key", ed, sign(t, jwt.SigningMethodEdDSA, newEd25519(t), edKey.kid, with(ed, nil)), "invalid token signature"},
		{"signed by another RSA key", rs, sign(t, jwt.SigningMethodRS256, rsaKey(t, 1), rsKey.kid, with(rs, nil)), "invalid token signature"},
		{"payload edited after signing", ed, tampered, "invalid token signature"},
		{"signature stripped", ed, good[:strings.LastIndex(good, ".")+1], "invalid token signature"},
		{"expired", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, edKey.kid, with(ed, func(c jwt.MapClaims) {
			c["iat"], c["nbf"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()
		})), "token has expired"},
		{"nbf in the future", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, edKey.kid, with(ed, func(c jwt.MapClaims) {
			c["nbf"] = now.Add(10 * time.Minute).Unix()
		})), "token is not valid yet"},
		{"iat in the future", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, edKey.kid, with(ed, func(c jwt.MapClaims) {
			c["iat"] = now.Add(10 * time.Minute).Unix()
		})), "issued in the future"},
		{"no exp", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, edKey.kid, with(ed, func(c jwt.MapClaims) { delete(c, "exp") })), "missing a required claim"},
		{"wrong issuer", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, edKey.kid, with(ed, func(c jwt.MapClaims) { c["iss"] = "evil" })), "wrong issuer"},
		{"no issuer", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, edKey.kid, with(ed, func(c jwt.MapClaims) { delete(c, "iss") })), "missing a required claim"},
		{"wrong audience", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, edKey.kid, with(ed, func(c jwt.MapClaims) { c["aud"] = "other" })), "wrong audience"},
		{"no audience", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, edKey.kid, with(ed, func(c jwt.MapClaims) { delete(c, "aud") })), "missing a required claim"},
		{"unknown kid", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, "no-such-key", with(ed, nil)), "unknown key"},
		{"overlong kid", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, strings.Repeat("k", 500), with(ed, nil)), "unknown key"},
		{"no kid", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, "", with(ed, nil)), "no key id"},
		{"subject not a user id", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, edKey.kid, with(ed, func(c jwt.MapClaims) { c["sub"] = "jane" })), "subject is not a user"},
		{"no account", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, edKey.kid, with(ed, func(c jwt.MapClaims) { delete(c, "acct") })), "no account"},
		{"account not a number", ed, sign(t, jwt.SigningMethodEdDSA, edKey.private, edKey.kid, with(ed, func(c jwt.MapClaims) { c["acct"] = "3" })), "malformed token"},
		{"not a JWT", ed, "not-a-token", "malformed token"},
		{"empty", ed, "", "malformed token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.svc.Verify(ctx, tt.token)
			if err == nil {
				t.Fatalf("Verify accepted the token as %+v", got)
			}
			pe, ok := errors.AsType[*problem.Error](err)
			if !ok || pe.Code != problem.Unauthenticated {
				t.Fatalf("error %v (%T), want an UNAUTHENTICATED problem", err, err)
			}
			if !strings.Contains(pe.Message, tt.want) {
				t.Errorf("message %q, want it to contain %q", pe.Message, tt.want)
			}
			// No key material or token contents in what a client sees.
			if len(pe.Message) > 80 || strings.Contains(pe.Message, edKey.kid) || strings.Contains(pe.Message, rsKey.kid) {
				t.Errorf("message %q says too much", pe.Message)
			}
		})
	}

	// The good token passes, so the refusals above are for the reason given.
	if _, err := ed.Verify(ctx, good); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
}

func TestVerifyLeeway(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := newService(t, newClient(t), clk, nil)
	token, _, err := s.Issue(ctx, Subject{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	// A replica whose clock is a little behind still accepts a fresh token...
	clk.Add(-10 * time.Second)
	if _, err := s.Verify(ctx, token); err != nil {
		t.Errorf("small skew: %v", err)
	}
	// ...and nobody accepts it once it has expired.
	clk.Add(10*time.Second + s.ttl + leeway + time.Second)
	if _, err := s.Verify(ctx, token); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("after expiry: %v, want expired", err)
	}
}

// TestVerifyRemembers: a token verified once is not checked again by signature,
// but is still refused once it expires or its key is no longer published; a token
// that failed is never remembered. Middleware's entry (verifyBearer), which
// skips the routing for a remembered token, refuses the same.
func TestVerifyRemembers(t *testing.T) {
	entries := []struct {
		name   string
		verify func(s *Service, ctx context.Context, token string) (Subject, error)
	}{
		{"Verify", (*Service).Verify},
		{"verifyBearer", func(s *Service, ctx context.Context, token string) (Subject, error) {
			sub, svc, err := s.verifyBearer(ctx, token)
			if svc != nil {
				t.Errorf("a user token was taken for a service: %+v", svc)
			}
			return sub, err
		}},
	}
	for _, e := range entries {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			s := newService(t, newClient(t), clk, nil)
			verify := func(token string) (Subject, error) { return e.verify(s, ctx, token) }
			sub := Subject{AccountID: 3, UserID: 9}
			token, _, err := s.Issue(ctx, sub)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if got, err := verify(token); err != nil || got != sub {
					t.Fatalf("verify = %+v, %v; want %+v", got, err, sub)
				}
			}
			if s.verified.Len() != 1 {
				t.Errorf("%d tokens remembered, want 1", s.verified.Len())
			}
			// A tampered copy is a different token: checked, refused, not remembered.
			parts := strings.Split(token, ".")
			parts[2] = strings.Repeat("A", len(parts[2]))
			if _, err := verify(strings.Join(parts, ".")); err == nil {
				t.Error("a token with a forged signature was accepted")
			}
			if s.verified.Len() != 1 {
				t.Errorf("a refused token was remembered: %d entries", s.verified.Len())
			}

			// Its key retired (as a rotation's old key is, eventually): refused.
			key := current(t, s)
			retired := clk.Now().Add(-time.Second)
			key.notAfter = &retired
			if _, err := verify(token); err == nil || !strings.Contains(err.Error(), "retired") {
				t.Errorf("a remembered token of a retired key: %v, want refused", err)
			}
			key.notAfter = nil

			// Expired (past the leeway): refused, as on first sight.
			clk.Add(defaultTokenTTL + leeway + time.Second)
			if _, err := verify(token); err == nil || !strings.Contains(err.Error(), "expired") {
				t.Errorf("a remembered token after its expiry: %v, want refused as expired", err)
			}
		})
	}
}
