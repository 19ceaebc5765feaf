package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"

	"latchkey/ent"
	"latchkey/internal/access"
	"latchkey/internal/problem"
)

const (
	// DefaultIssuer and DefaultAudience name Latchkey in its own tokens.
	DefaultIssuer   = "latchkey"
	DefaultAudience = "latchkey"
	// leeway tolerates clock skew between the replica that issued a token and
	// the one verifying it.
	leeway = 30 * time.Second
)

// Subject is who a token speaks for: one user of one account.
type Subject struct {
	AccountID int
	UserID    int
}

// Service issues and verifies Latchkey access tokens and authenticates requests.
type Service struct {
	client   *ent.Client
	keys     *Keys
	issuer   string
	audience string
	ttl      time.Duration
	logger   *slog.Logger
	now      func() time.Time
	cache    *access.Cache
	verified *lru.Cache[[sha256.Size]byte, verifiedToken]
}

// verifiedToken is what Verify learned from a token whose signature and claims
// passed: a client sends the same token with every request for its lifetime, and
// checking an Ed25519 signature costs more than the rest of a cached `can`.
type verifiedToken struct {
	sub Subject
	kid string
	exp time.Time
}

// verifiedTokens bounds the remembered tokens (about 100 bytes each).
const verifiedTokens = 10_000

// Option configures a Service.
type Option func(*Service)

// WithCache makes requests read the caller's state through c (see access.Cache).
func WithCache(c *access.Cache) Option { return func(s *Service) { s.cache = c } }

// WithIssuer sets the iss claim written and required (default "latchkey").
func WithIssuer(iss string) Option { return func(s *Service) { s.issuer = iss } }

// WithAudience sets the aud claim written and required (default "latchkey").
func WithAudience(aud string) Option { return func(s *Service) { s.audience = aud } }

// WithTTL sets how long an access token lives (default 15 minutes).
func WithTTL(ttl time.Duration) Option { return func(s *Service) { s.ttl = ttl } }

// WithLogger sets where refused authentications are logged (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.logger = l } }

// NewService returns a Service signing with keys and loading users through client.
func NewService(client *ent.Client, keys *Keys, opts ...Option) *Service {
	s := &Service{
		client:   client,
		keys:     keys,
		issuer:   DefaultIssuer,
		audience: DefaultAudience,
		ttl:      defaultTokenTTL,
		now:      time.Now,
	}
	s.verified, _ = lru.New[[sha256.Size]byte, verifiedToken](verifiedTokens)
	for _, o := range opts {
		o(s)
	}
	if s.ttl <= 0 {
		s.ttl = defaultTokenTTL
	}
	// A rotated-out key must stay published until this service's tokens expire.
	keys.coverTTL(s.ttl)
	return s
}

// claims is the payload of a Latchkey access token.
type claims struct {
	jwt.RegisteredClaims
	AccountID int `json:"acct"`
}

// Issue signs an access token for sub with the current key and returns it with
// its expiry.
func (s *Service) Issue(ctx context.Context, sub Subject) (string, time.Time, error) {
	if sub.AccountID <= 0 || sub.UserID <= 0 {
		return "", time.Time{}, errors.New("auth: issue: subject needs an account and a user")
	}
	return s.sign(ctx, strconv.Itoa(sub.UserID), func(rc jwt.RegisteredClaims) jwt.Claims {
		return claims{RegisteredClaims: rc, AccountID: sub.AccountID}
	})
}

// sign signs the claims build makes from Latchkey's registered claims (issuer,
// audience, lifetime, a fresh id) for subject, with the current key and its kid.
func (s *Service) sign(ctx context.Context, subject string, build func(jwt.RegisteredClaims) jwt.Claims) (string, time.Time, error) {
	key, err := s.keys.signer(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	// JWT times have whole seconds; truncate so the returned expiry is the token's.
	now := s.now().Truncate(time.Second)
	exp := now.Add(s.ttl)
	tok := jwt.NewWithClaims(key.method, build(jwt.RegisteredClaims{
		Issuer:    s.issuer,
		Subject:   subject,
		Audience:  jwt.ClaimStrings{s.audience},
		ExpiresAt: jwt.NewNumericDate(exp),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        rand.Text(),
	}))
	tok.Header["kid"] = key.kid
	signed, err := tok.SignedString(key.private)
	if err != nil {
		return "", time.Time{}, err
	}
	return signed, exp, nil
}

// remembered is the subject of a user token Verify passed before: it is taken
// at its word until it expires, as long as its key is still published (a
// retired or unknown key refuses it as before).
func (s *Service) remembered(ctx context.Context, hash [sha256.Size]byte) (Subject, bool, error) {
	v, ok := s.verified.Get(hash)
	if !ok || !s.now().Before(v.exp.Add(leeway)) {
		return Subject{}, false, nil
	}
	if _, err := s.keys.verifier(ctx, v.kid); err != nil {
		return Subject{}, false, err
	}
	return v.sub, true, nil
}

// Verify checks a token's signature, algorithm, issuer, audience and lifetime and
// returns its subject. A token that fails is a problem.Unauthenticated error
// saying briefly why; any other error means the keys could not be read.
func (s *Service) Verify(ctx context.Context, token string) (Subject, error) {
	hash := sha256.Sum256([]byte(token))
	if sub, ok, err := s.remembered(ctx, hash); ok || err != nil {
		return sub, err
	}
	p := jwt.NewParser(
		jwt.WithIssuer(s.issuer),
		jwt.WithAudience(s.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithStrictDecoding(),
	)
	var (
		c        claims
		storeErr error // the keys could not be read: not the token's fault
	)
	t, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		key, err := s.keys.verifier(ctx, kid)
		if err != nil {
			if _, ok := errors.AsType[*problem.Error](err); !ok {
				storeErr = err
			}
			return nil, err
		}
		// The key, not the token, decides the algorithm: this is what refuses
		// alg "none" and HMAC keyed with the public key.
		if alg := t.Method.Alg(); alg != key.alg {
			return nil, problem.New(problem.Unauthenticated, "", "token algorithm %s is not allowed for its key", alg)
		}
		return key.public, nil
	})
	if storeErr != nil {
		return Subject{}, storeErr
	}
	if err != nil {
		return Subject{}, verifyError(err)
	}
	uid, err := strconv.Atoi(c.Subject)
	if err != nil || uid <= 0 {
		return Subject{}, problem.New(problem.Unauthenticated, "", "token subject is not a user")
	}
	if c.AccountID <= 0 {
		return Subject{}, problem.New(problem.Unauthenticated, "", "token has no account")
	}
	sub := Subject{AccountID: c.AccountID, UserID: uid}
	kid, _ := t.Header["kid"].(string)
	s.verified.Add(hash, verifiedToken{sub: sub, kid: kid, exp: c.ExpiresAt.Time})
	return sub, nil
}

// verifyError turns a jwt parse error into a short reason. jwt's own messages can
// quote claim values, so they are not passed on.
func verifyError(err error) error {
	if pe, ok := errors.AsType[*problem.Error](err); ok {
		return pe
	}
	reason := "invalid token"
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		reason = "malformed token"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// The keyfunc's own errors are handled above; what is left is a missing
		// or unknown alg header.
		reason = "token algorithm is not allowed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		reason = "invalid token signature"
	case errors.Is(err, jwt.ErrTokenExpired):
		reason = "token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		reason = "token is not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = "token is issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		reason = "token has the wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		reason = "token has the wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		reason = "token is missing a required claim"
	}
	return problem.New(problem.Unauthenticated, "", "%s", reason)
}
