package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"latchkey/ent/signingkey"
	"latchkey/internal/problem"
)

func TestKeyPersistedAndReused(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)

	first := newService(t, client, nil, nil)
	token, _, err := first.Issue(ctx, Subject{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := signingKeyCount(t, client); n != 1 {
		t.Fatalf("%d signing keys stored, want 1", n)
	}
	row, err := client.SigningKey.Query().Only(allow(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if row.Algorithm != AlgEdDSA || row.Kid != headerKid(t, token) || row.NotAfter != nil {
		t.Errorf("stored key: alg %s kid %s not_after %v", row.Algorithm, row.Kid, row.NotAfter)
	}

	// Another replica (or a restart) signs with the same key and accepts the token.
	second := newService(t, client, nil, nil)
	if _, err := second.Verify(ctx, token); err != nil {
		t.Fatalf("second replica refused the first one's token: %v", err)
	}
	other, _, err := second.Issue(ctx, Subject{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if headerKid(t, other) != row.Kid {
		t.Error("second replica made a new key instead of reusing the stored one")
	}
	if n := signingKeyCount(t, client); n != 1 {
		t.Errorf("%d signing keys stored, want 1", n)
	}
}

func TestConcurrentFirstUseMakesOneKey(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	keys := NewKeys(client)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := keys.Ensure(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := signingKeyCount(t, client); n != 1 {
		t.Errorf("%d keys made by one replica, want 1", n)
	}
}

func TestRacingReplicasBothValid(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	a := newService(t, client, nil, nil)
	b := newService(t, client, nil, nil)
	// Both replicas found the table empty and made a key each.
	if _, err := a.keys.generate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.keys.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.keys.generate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.keys.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	ta, _, err := a.Issue(ctx, Subject{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	tb, _, err := b.Issue(ctx, Subject{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if headerKid(t, ta) == headerKid(t, tb) {
		t.Fatal("replicas share a key; the race was not simulated")
	}
	for _, s := range []*Service{a, b} {
		for _, tok := range []string{ta, tb} {
			if _, err := s.Verify(ctx, tok); err != nil {
				t.Errorf("token refused: %v", err)
			}
		}
	}
	if kids := jwksKids(t, a.keys); len(kids) != 2 {
		t.Errorf("JWKS kids %v, want both keys", kids)
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	clk := newClock()
	s := newService(t, client, clk, nil, WithTTL(time.Hour))

	oldToken, _, err := s.Issue(ctx, Subject{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	oldKid := headerKid(t, oldToken)
	rotatedAt := clk.Now()
	newKid, err := s.keys.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if newKid == oldKid {
		t.Fatal("Rotate kept the same kid")
	}
	newToken, _, err := s.Issue(ctx, Subject{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if headerKid(t, newToken) != newKid {
		t.Errorf("signed with %s after rotating, want %s", headerKid(t, newToken), newKid)
	}

	old, err := client.SigningKey.Query().Where(signingkey.Kid(oldKid)).Only(allow(ctx))
	if err != nil {
		t.Fatal(err)
	}
	// Retirement covers this service's TTL, not the default.
	if want := rotatedAt.Add(time.Hour + retireMargin); old.NotAfter == nil || old.NotAfter.Sub(want).Abs() > time.Second {
		t.Errorf("old key not_after = %v, want %v", old.NotAfter, want)
	}
	cur, err := client.SigningKey.Query().Where(signingkey.Kid(newKid)).Only(allow(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if cur.NotAfter != nil {
		t.Errorf("new key retires at %v", cur.NotAfter)
	}

	// This replica and a fresh one accept both tokens and publish both keys.
	replica := newService(t, client, clk, nil, WithTTL(time.Hour))
	for _, svc := range []*Service{s, replica} {
		for _, tok := range []string{oldToken, newToken} {
			if _, err := svc.Verify(ctx, tok); err != nil {
				t.Errorf("token refused after rotation: %v", err)
			}
		}
		if kids := jwksKids(t, svc.keys); !slices.Equal(kids, []string{newKid, oldKid}) {
			t.Errorf("JWKS kids %v, want [%s %s]", kids, newKid, oldKid)
		}
	}

	// Once the old key retires it leaves the JWKS and verifies nothing.
	clk.Add(time.Hour + retireMargin + time.Second)
	if kids := jwksKids(t, s.keys); !slices.Equal(kids, []string{newKid}) {
		t.Errorf("JWKS kids after retirement %v, want [%s]", kids, newKid)
	}
	if _, err := s.keys.verifier(ctx, oldKid); err == nil || !strings.Contains(err.Error(), "retired") {
		t.Errorf("retired key lookup: %v, want refused as retired", err)
	}
}

func TestReplicaSeesRotation(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	clk := newClock()
	a := newService(t, client, clk, nil)
	b := newService(t, client, clk, nil)
	if err := a.keys.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	oldKid := current(t, b).kid

	newKid, err := a.keys.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := a.Issue(ctx, Subject{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	// b has never seen the new key: it finds it by kid.
	if _, err := b.Verify(ctx, tok); err != nil {
		t.Errorf("replica refused a token signed with the new key: %v", err)
	}
	// b may keep signing with its cached key for a moment, and then switches.
	if got := current(t, b).kid; got != oldKid && got != newKid {
		t.Fatalf("replica signs with %s", got)
	}
	clk.Add(refreshEvery + time.Second)
	if got := current(t, b).kid; got != newKid {
		t.Errorf("replica signs with %s after refreshing, want %s", got, newKid)
	}
}

func TestKeyFile(t *testing.T) {
	ctx := context.Background()
	ed := newEd25519(t)
	rsaPriv := rsaKey(t, 0)
	tests := []struct {
		name string
		path string
		alg  string
	}{
		{"Ed25519 PKCS#8", writeKeyFile(t, ed), AlgEdDSA},
		{"RSA PKCS#8", writeKeyFile(t, rsaPriv), AlgRS256},
		{"RSA PKCS#1", writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaPriv)), AlgRS256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := newClient(t)
			s := newService(t, client, nil, []KeyOption{WithKeyFile(tt.path)})
			sk := current(t, s)
			if sk.alg != tt.alg || sk.kid != thumbprint(sk.public) {
				t.Errorf("key file: alg %s kid %s", sk.alg, sk.kid)
			}
			if n := signingKeyCount(t, client); n != 0 {
				t.Errorf("%d keys generated although a key file is configured", n)
			}
			// Another replica given the same file names the key the same.
			token, _, err := s.Issue(ctx, Subject{1, 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := newService(t, client, nil, []KeyOption{WithKeyFile(tt.path)}).Verify(ctx, token); err != nil {
				t.Errorf("replica with the same file refused the token: %v", err)
			}
			if _, err := s.keys.Rotate(ctx); err == nil {
				t.Error("Rotate with a key file succeeded")
			}
		})
	}
}

func TestKeyFileErrors(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	pubDER, _ := x509.MarshalPKIXPublicKey(newEd25519(t).Public())
	notPEM := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(notPEM, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(t.TempDir(), "none.pem"), "read key file"},
		{"not PEM", notPEM, "no PEM block"},
		{"public key", writePEM(t, "PUBLIC KEY", pubDER), "want a PKCS#8"},
		{"EC key", writeKeyFile(t, ec), "unsupported key type"},
		{"SEC 1 EC key", writePEM(t, "EC PRIVATE KEY", ecDER), "want a PKCS#8"},
		{"weak RSA key", writeKeyFile(t, small), "at least 2048"},
		{"garbage DER", writePEM(t, "PRIVATE KEY", []byte("junk")), "key file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewKeys(newClient(t), WithKeyFile(tt.path)).Ensure(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Ensure: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestVerifyStoreDown(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	s := newService(t, client, nil, nil)
	token, _, err := s.Issue(ctx, Subject{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	other := newService(t, client, nil, nil) // has not loaded the keys yet
	client.Close()
	_, err = other.Verify(ctx, token)
	if err == nil {
		t.Fatal("Verify succeeded without a store")
	}
	if pe, ok := errors.AsType[*problem.Error](err); ok && pe.Code == problem.Unauthenticated {
		t.Errorf("store failure reported as a bad token: %v", err)
	}
}

// thumbprint matches RFC 8037 Appendix A.3.
func TestThumbprint(t *testing.T) {
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := thumbprint(ed25519.PublicKey(x)), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
}

func TestJWKSHandler(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		keyOpts []KeyOption
		kty     string
		alg     string
	}{
		{"generated Ed25519", nil, "OKP", AlgEdDSA},
		{"RSA key file", []KeyOption{WithKeyFile(writeKeyFile(t, rsaKey(t, 1)))}, "RSA", AlgRS256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newService(t, newClient(t), nil, tt.keyOpts)
			srv := httptest.NewServer(s.keys.JWKSHandler())
			t.Cleanup(srv.Close)

			res, err := http.Get(srv.URL + JWKSPath)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" ||
				!strings.Contains(res.Header.Get("Cache-Control"), "max-age=") {
				t.Errorf("status %d, headers %v", res.StatusCode, res.Header)
			}
			var set struct{ Keys []map[string]any }
			if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != 1 {
				t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
			}
			k := set.Keys[0]
			if k["kid"] != current(t, s).kid || k["alg"] != tt.alg || k["use"] != "sig" || k["kty"] != tt.kty {
				t.Errorf("JWK = %v", k)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := k[private]; ok {
					t.Errorf("JWK publishes private member %q", private)
				}
			}

			// A third party verifies our token against the published set.
			kctx, cancel := context.WithCancel(ctx)
			t.Cleanup(cancel)
			kf, err := keyfunc.NewDefaultCtx(kctx, []string{srv.URL + JWKSPath})
			if err != nil {
				t.Fatal(err)
			}
			token, _, err := s.Issue(ctx, Subject{5, 6})
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := jwt.Parse(token, kf.Keyfunc,
				jwt.WithValidMethods([]string{tt.alg}), jwt.WithIssuer(DefaultIssuer), jwt.WithAudience(DefaultAudience))
			if err != nil || !parsed.Valid {
				t.Errorf("keyfunc refused our token: %v", err)
			}
			// And refuses one we did not sign.
			forged := sign(t, jwt.SigningMethodEdDSA, newEd25519(t), current(t, s).kid, goodClaims(s, Subject{5, 6}, time.Now()))
			if _, err := jwt.Parse(forged, kf.Keyfunc); err == nil {
				t.Error("keyfunc accepted a forged token")
			}
		})
	}
}

func TestJWKSHandlerMethods(t *testing.T) {
	h := NewKeys(newClient(t)).JWKSHandler()
	for _, m := range []string{http.MethodPost, http.MethodDelete} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(m, JWKSPath, nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d", m, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, JWKSPath, nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

// jwksKids lists the kids keys publishes, in order.
func jwksKids(t *testing.T, keys *Keys) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	keys.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, JWKSPath, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("JWKS: status %d: %s", rec.Code, rec.Body)
	}
	var set struct{ Keys []struct{ Kid string } }
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}
