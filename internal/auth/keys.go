// Package auth issues and verifies Latchkey's own access tokens (JWTs signed with
// an asymmetric key), publishes the verification keys as a JWKS, and turns a
// request's bearer token into a viewer (SPEC §4 "Authentication").
package auth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"latchkey/ent"
	"latchkey/ent/privacy"
	"latchkey/ent/signingkey"
	"latchkey/internal/problem"
)

// JWS algorithms Latchkey signs with; a key verifies only tokens of its own algorithm.
const (
	AlgEdDSA = "EdDSA"
	AlgRS256 = "RS256"
)

const (
	// defaultTokenTTL is how long an access token lives unless configured.
	defaultTokenTTL = 15 * time.Minute
	// retireMargin keeps a rotated-out key published a little longer than the
	// last token it signed: it covers replicas that have not yet seen the
	// rotation (refreshEvery) and clock skew between them.
	retireMargin = 5 * time.Minute
	// refreshEvery is how stale this replica's view of the key table may get;
	// it bounds how long a replica keeps signing with a key another one retired.
	refreshEvery = time.Minute
	// maxKidLen caps a token's kid before it is looked up in the store.
	maxKidLen = 128
	// minRSABits refuses RSA keys too weak to sign with.
	minRSABits = 2048
)

// Keys holds the server's signing keys. The keys live in the SigningKey table so
// every replica signs and verifies with the same set; this is a cache of it.
type Keys struct {
	client  *ent.Client
	file    string
	now     func() time.Time
	logger  *slog.Logger
	maxTTL  time.Duration // the longest token lifetime a key must outlive
	loadMu  sync.Mutex    // serialises loading and generating, so one replica makes one key
	mu      sync.RWMutex  // guards the fields below
	byKid   map[string]*signingKey
	order   []*signingKey // byKid's keys, newest first, for a stable JWKS
	current *signingKey
	fileKey *signingKey
	loaded  time.Time
}

// KeyOption configures Keys.
type KeyOption func(*Keys)

// WithKeyFile signs with the PEM (PKCS#8, or PKCS#1 for RSA) Ed25519 or RSA
// private key in path instead of keys generated into the database. Ed25519 signs
// EdDSA, RSA signs RS256. Keys already in the database stay valid for verification.
func WithKeyFile(path string) KeyOption { return func(k *Keys) { k.file = path } }

// WithKeyLogger sets where key problems (an unreadable stored key) are logged.
func WithKeyLogger(l *slog.Logger) KeyOption { return func(k *Keys) { k.logger = l } }

// NewKeys returns the signing keys stored through client. Nothing is loaded or
// generated until first use; call Ensure to fail early on a bad configuration.
func NewKeys(client *ent.Client, opts ...KeyOption) *Keys {
	k := &Keys{client: client, now: time.Now, maxTTL: defaultTokenTTL, byKid: map[string]*signingKey{}}
	for _, o := range opts {
		o(k)
	}
	return k
}

// signingKey is one key pair (the private half only for keys this server may sign with).
type signingKey struct {
	kid      string
	alg      string
	method   jwt.SigningMethod
	private  crypto.Signer
	public   crypto.PublicKey
	notAfter *time.Time
	jwk      jwkset.JWKMarshal
}

// retired reports whether the key is no longer published at t.
func (s *signingKey) retired(t time.Time) bool {
	return s.notAfter != nil && !t.Before(*s.notAfter)
}

// canSign reports whether a token signed at t would expire before the key retires.
func (s *signingKey) canSign(t time.Time, ttl time.Duration) bool {
	return s.private != nil && (s.notAfter == nil || s.notAfter.After(t.Add(ttl)))
}

// allow lets this package read and write signing keys, which the privacy policy
// otherwise hides from everyone.
func allow(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// coverTTL makes rotated keys outlive tokens of the given lifetime.
func (k *Keys) coverTTL(ttl time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ttl > k.maxTTL {
		k.maxTTL = ttl
	}
}

// Ensure makes sure there is a key to sign with: it loads the key file, or the
// newest usable key from the database, generating one if there is none.
func (k *Keys) Ensure(ctx context.Context) error {
	_, err := k.signer(ctx)
	return err
}

// signer returns the key to sign new tokens with.
func (k *Keys) signer(ctx context.Context) (*signingKey, error) {
	now := k.now()
	k.mu.RLock()
	cur, fresh, ttl := k.current, now.Sub(k.loaded) < refreshEvery, k.maxTTL
	k.mu.RUnlock()
	if cur != nil && fresh && cur.canSign(now, ttl) {
		return cur, nil
	}

	k.loadMu.Lock()
	defer k.loadMu.Unlock()
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	k.mu.RLock()
	cur = k.current
	k.mu.RUnlock()
	if cur != nil {
		return cur, nil
	}
	// No usable key anywhere: make one. Another replica may do the same at the
	// same moment; both keys are stored and published, so either verifies.
	if _, err := k.generate(ctx); err != nil {
		return nil, err
	}
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.current == nil {
		return nil, errors.New("auth: no usable signing key after generating one")
	}
	return k.current, nil
}

// refreshIfStale reloads the key table when this replica's copy is too old to
// trust (another replica may have rotated).
func (k *Keys) refreshIfStale(ctx context.Context) error {
	k.mu.RLock()
	fresh := k.loaded.After(k.now().Add(-refreshEvery))
	k.mu.RUnlock()
	if fresh {
		return nil
	}
	k.loadMu.Lock()
	defer k.loadMu.Unlock()
	k.mu.RLock()
	fresh = k.loaded.After(k.now().Add(-refreshEvery))
	k.mu.RUnlock()
	if fresh {
		return nil
	}
	return k.load(ctx)
}

// load reads every published key and picks the one to sign with. Callers hold loadMu.
func (k *Keys) load(ctx context.Context) error {
	now := k.now()
	k.mu.RLock()
	fileKey, old, ttl := k.fileKey, k.byKid, k.maxTTL
	k.mu.RUnlock()
	if k.file != "" && fileKey == nil {
		var err error
		if fileKey, err = loadKeyFile(k.file); err != nil {
			return err
		}
	}
	rows, err := k.client.SigningKey.Query().
		Where(signingkey.Or(signingkey.NotAfterIsNil(), signingkey.NotAfterGT(now))).
		Order(ent.Desc(signingkey.FieldCreatedAt), ent.Desc(signingkey.FieldID)).
		All(allow(ctx))
	if err != nil {
		return fmt.Errorf("auth: load signing keys: %w", err)
	}

	byKid := make(map[string]*signingKey, len(rows)+1)
	var order []*signingKey
	var current *signingKey
	if fileKey != nil {
		byKid[fileKey.kid], order, current = fileKey, append(order, fileKey), fileKey
	}
	for _, row := range rows {
		if _, dup := byKid[row.Kid]; dup {
			continue // the key file's key, also stored
		}
		sk, ok := old[row.Kid]
		if ok {
			// Key material is immutable; only the retirement date can change.
			c := *sk
			c.notAfter = row.NotAfter
			sk = &c
		} else if sk, err = fromRow(row); err != nil {
			k.log().Error("auth: skipping unreadable signing key", "kid", row.Kid, "err", err)
			continue
		}
		byKid[sk.kid], order = sk, append(order, sk)
		if current == nil && sk.canSign(now, ttl) {
			current = sk // rows are newest first
		}
	}

	k.mu.Lock()
	k.fileKey, k.byKid, k.order, k.current, k.loaded = fileKey, byKid, order, current, now
	k.mu.Unlock()
	return nil
}

// generate stores a new Ed25519 key and returns its kid.
func (k *Keys) generate(ctx context.Context) (string, error) {
	row, err := newKeyRow(k.client.SigningKey.Create())
	if err != nil {
		return "", err
	}
	sk, err := row.Save(allow(ctx))
	if err != nil {
		return "", fmt.Errorf("auth: store signing key: %w", err)
	}
	return sk.Kid, nil
}

// newKeyRow fills create with a fresh Ed25519 key pair.
func newKeyRow(create *ent.SigningKeyCreate) (*ent.SigningKeyCreate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: generate signing key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("auth: encode signing key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("auth: encode signing key: %w", err)
	}
	return create.SetKid(thumbprint(pub)).SetAlgorithm(AlgEdDSA).
		SetPrivateKey(privDER).SetPublicKey(pubDER), nil
}

// Rotate makes a new current signing key and returns its kid. Older keys keep
// verifying, and stay in the JWKS, until every token they signed has expired
// (not_after = now + token TTL + a margin). A configured key file cannot be
// rotated here: replace the file instead.
func (k *Keys) Rotate(ctx context.Context) (string, error) {
	if k.file != "" {
		return "", problem.New(problem.BadUserInput, "", "the signing key comes from a key file; replace the file to rotate it")
	}
	k.loadMu.Lock()
	defer k.loadMu.Unlock()

	k.mu.RLock()
	retireAt := k.now().Add(k.maxTTL + retireMargin)
	k.mu.RUnlock()

	tx, err := k.client.Tx(ctx)
	if err != nil {
		return "", fmt.Errorf("auth: rotate signing key: %w", err)
	}
	create, err := newKeyRow(tx.SigningKey.Create())
	if err != nil {
		return "", errors.Join(err, tx.Rollback())
	}
	row, err := create.Save(allow(ctx))
	if err != nil {
		return "", errors.Join(fmt.Errorf("auth: store signing key: %w", err), tx.Rollback())
	}
	// Only shorten lives: a key already due to retire sooner keeps its date.
	err = tx.SigningKey.Update().
		Where(signingkey.IDNEQ(row.ID), signingkey.Or(signingkey.NotAfterIsNil(), signingkey.NotAfterGT(retireAt))).
		SetNotAfter(retireAt).
		Exec(allow(ctx))
	if err != nil {
		return "", errors.Join(fmt.Errorf("auth: retire signing keys: %w", err), tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("auth: rotate signing key: %w", err)
	}
	if err := k.load(ctx); err != nil {
		return "", err
	}
	return row.Kid, nil
}

// verifier returns the published key named kid. An unknown kid is looked up in
// the store, since another replica may have made it since the last load.
func (k *Keys) verifier(ctx context.Context, kid string) (*signingKey, error) {
	if kid == "" {
		return nil, problem.New(problem.Unauthenticated, "", "token has no key id")
	}
	if len(kid) > maxKidLen {
		return nil, problem.New(problem.Unauthenticated, "", "token signed by an unknown key")
	}
	if err := k.refreshIfStale(ctx); err != nil {
		return nil, err
	}
	now := k.now()
	k.mu.RLock()
	sk, ok := k.byKid[kid]
	k.mu.RUnlock()
	if !ok {
		row, err := k.client.SigningKey.Query().Where(signingkey.Kid(kid)).Only(allow(ctx))
		if ent.IsNotFound(err) {
			return nil, problem.New(problem.Unauthenticated, "", "token signed by an unknown key")
		}
		if err != nil {
			return nil, fmt.Errorf("auth: look up signing key: %w", err)
		}
		if sk, err = fromRow(row); err != nil {
			return nil, fmt.Errorf("auth: read signing key %s: %w", kid, err)
		}
		if !sk.retired(now) {
			// Made by another replica since the last load, so the newest.
			k.mu.Lock()
			if _, ok := k.byKid[kid]; !ok {
				// Copy on write: load reads the old map without holding mu.
				m := make(map[string]*signingKey, len(k.byKid)+1)
				for id, v := range k.byKid {
					m[id] = v
				}
				m[kid] = sk
				k.byKid, k.order = m, append([]*signingKey{sk}, k.order...)
			}
			k.mu.Unlock()
		}
	}
	if sk.retired(now) {
		return nil, problem.New(problem.Unauthenticated, "", "token signed by a retired key")
	}
	return sk, nil
}

// published lists the keys in the JWKS: the current one first, then newest first.
func (k *Keys) published(ctx context.Context) ([]*signingKey, error) {
	if _, err := k.signer(ctx); err != nil {
		return nil, err
	}
	now := k.now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := []*signingKey{}
	if k.current != nil {
		out = append(out, k.current)
	}
	for _, sk := range k.order {
		if sk != k.current && !sk.retired(now) {
			out = append(out, sk)
		}
	}
	return out, nil
}

func (k *Keys) log() *slog.Logger {
	if k.logger != nil {
		return k.logger
	}
	return slog.Default()
}

// fromRow parses a stored key.
func fromRow(row *ent.SigningKey) (*signingKey, error) {
	priv, err := x509.ParsePKCS8PrivateKey(row.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", priv)
	}
	sk, err := newSigningKey(row.Kid, signer)
	if err != nil {
		return nil, err
	}
	if sk.alg != row.Algorithm {
		return nil, fmt.Errorf("stored algorithm %q does not match a %s key", row.Algorithm, sk.alg)
	}
	sk.notAfter = row.NotAfter
	return sk, nil
}

// loadKeyFile reads a PEM private key. Its kid is the key's thumbprint, so every
// replica given the same file names it the same.
func loadKeyFile(path string) (*signingKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read key file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("auth: key file %s holds no PEM block", path)
	}
	var priv any
	switch block.Type {
	case "PRIVATE KEY":
		priv, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		priv, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("auth: key file %s: want a PKCS#8 \"PRIVATE KEY\", got %q", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: key file %s: %w", path, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("auth: key file %s: unsupported key type %T", path, priv)
	}
	sk, err := newSigningKey("", signer)
	if err != nil {
		return nil, fmt.Errorf("auth: key file %s: %w", path, err)
	}
	return sk, nil
}

// newSigningKey wraps an Ed25519 or RSA private key; an empty kid becomes the
// key's RFC 7638 thumbprint.
func newSigningKey(kid string, priv crypto.Signer) (*signingKey, error) {
	sk := &signingKey{kid: kid, private: priv, public: priv.Public()}
	switch pub := sk.public.(type) {
	case ed25519.PublicKey:
		sk.alg, sk.method = AlgEdDSA, jwt.SigningMethodEdDSA
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits, want at least %d", pub.N.BitLen(), minRSABits)
		}
		sk.alg, sk.method = AlgRS256, jwt.SigningMethodRS256
	default:
		return nil, fmt.Errorf("unsupported key type %T: want Ed25519 or RSA", pub)
	}
	if sk.kid == "" {
		sk.kid = thumbprint(sk.public)
	}
	j, err := jwkset.NewJWKFromKey(sk.public, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.ALG(sk.alg), KID: sk.kid, USE: jwkset.UseSig},
	})
	if err != nil {
		return nil, fmt.Errorf("encode JWK: %w", err)
	}
	sk.jwk = j.Marshal()
	return sk, nil
}

// thumbprint is the RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519
// or RSA public key.
func thumbprint(pub crypto.PublicKey) string {
	b64 := base64.RawURLEncoding.EncodeToString
	var members any
	switch p := pub.(type) {
	case ed25519.PublicKey:
		// Field order matters: RFC 7638 hashes the members sorted by name.
		members = struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
		}{"Ed25519", "OKP", b64(p)}
	case *rsa.PublicKey:
		members = struct {
			E   string `json:"e"`
			Kty string `json:"kty"`
			N   string `json:"n"`
		}{b64(big.NewInt(int64(p.E)).Bytes()), "RSA", b64(p.N.Bytes())}
	}
	data, _ := json.Marshal(members)
	sum := sha256.Sum256(data)
	return b64(sum[:])
}
