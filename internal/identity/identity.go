// Package identity is the login layer (SPEC §1 Identity, §4 Authentication):
// invitations that set up or link a global identity, password login across
// accounts, rotating refresh tokens with reuse detection, password changes and
// resets. Every function takes the caller's *ent.Client — a transaction's client —
// so that its writes, and the emails it enqueues, commit with the caller's change.
//
// Identities, password resets and the mail outbox are global and are read and
// written under an explicit privacy.Allow decision. Account-scoped records
// (users, invitations, refresh tokens, audit events) are always written under
// viewer.System for the record's own account, so the tenant rules and the audit
// hook apply to them as to any other change.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"latchkey/ent"
	"latchkey/ent/privacy"
	"latchkey/internal/auth"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// Defaults of Config.
const (
	DefaultBaseURL       = "http://localhost:8080"
	DefaultInvitationTTL = 7 * 24 * time.Hour
	DefaultResetTTL      = time.Hour
	DefaultRefreshTTL    = 30 * 24 * time.Hour
)

// Config configures the identity layer. Zero fields take the defaults above.
type Config struct {
	// BaseURL is the public address of the frontend that serves the links in
	// emails: <BaseURL>/invitation?token=... and <BaseURL>/reset-password?token=...
	BaseURL string
	// InvitationTTL is how long an invitation link works.
	InvitationTTL time.Duration
	// ResetTTL is how long a password-reset link works.
	ResetTTL time.Duration
	// RefreshTTL is how long a refresh token works; each rotation starts it again.
	RefreshTTL time.Duration
}

// Service runs the identity flows. It keeps no state of its own: any replica may
// serve any step of a flow.
type Service struct {
	cfg  Config
	base string // BaseURL without a trailing slash
	auth *auth.Service
	now  func() time.Time
}

// New returns the identity service; authn issues the access tokens.
func New(cfg Config, authn *auth.Service) (*Service, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("identity: the public base URL must be an absolute http(s) URL without query, got %q", cfg.BaseURL)
	}
	if cfg.InvitationTTL <= 0 {
		cfg.InvitationTTL = DefaultInvitationTTL
	}
	if cfg.ResetTTL <= 0 {
		cfg.ResetTTL = DefaultResetTTL
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
	}
	if authn == nil {
		return nil, errors.New("identity: an auth service is required")
	}
	return &Service{
		cfg:  cfg,
		base: strings.TrimRight(cfg.BaseURL, "/"),
		auth: authn,
		now:  func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}, nil
}

// Config returns the configuration in effect (with defaults filled in).
func (s *Service) Config() Config { return s.cfg }

// link is the frontend URL for path carrying token.
func (s *Service) link(path, token string) string {
	return s.base + path + "?token=" + url.QueryEscape(token)
}

// allow is ctx with the system decision that global records (identities, password
// resets, the outbox) require. It is never used for account-scoped writes: those
// go through system(), so the tenant rule stamps and confines them.
func allow(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// system is ctx acting as the identity layer inside one account.
func system(ctx context.Context, accountID int) context.Context {
	return viewer.System(ctx, accountID, "identity")
}

// normEmail is the identity key for an address: trimmed and lower-cased.
func normEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// maxTokenLen bounds the tokens accepted from clients (ours are 43 characters).
const maxTokenLen = 256

// newSecret returns 256 random bits as a URL-safe token and the hash to store.
func newSecret() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashSecret(token), nil
}

// hashSecret is the stored form of a token: hex SHA-256. Tokens are 256 random
// bits, so a fast hash is enough and the lookup is by hash.
func hashSecret(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// newFamily names a new refresh-token family (128 random bits, 32 hex digits).
func newFamily() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// checkPassword reports whether password matches hash — argon2id (ours) or bcrypt
// (imported) — and whether the hash should be replaced by an argon2id one.
func checkPassword(hash, password string) (ok, rehash bool) {
	if strings.HasPrefix(hash, "$2") {
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil, true
	}
	return auth.CheckPassword(hash, password), false
}

// dummyHash is checked against when there is no real hash to check, so that an
// unknown email costs the same work as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, err := auth.HashPassword("latchkey-timing-equaliser")
	if err != nil {
		panic(err)
	}
	return h
})

// renameField returns err with its input field renamed from "password" to field
// (auth.HashPassword reports its policy on "password").
func renameField(err error, field string) error {
	if pe, ok := errors.AsType[*problem.Error](err); ok && pe.Field == "password" {
		return problem.BadInput(field, "%s", pe.Message)
	}
	return err
}

// notFound reports whether err is ent's not-found.
func notFound(err error) bool { return ent.IsNotFound(err) }
