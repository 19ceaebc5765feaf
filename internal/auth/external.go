package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"latchkey/ent"
	"latchkey/ent/account"
	"latchkey/ent/user"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// ExternalIssuersEnv names the environment variable holding the external
// issuers as a JSON array of ExternalIssuer.
const ExternalIssuersEnv = "LATCHKEY_EXTERNAL_ISSUERS"

// The claims that can name a user in an external token (ExternalIssuer.UserClaim).
const (
	// ClaimEmail matches the user of the account whose email equals the claim,
	// ignoring case (ASCII case on SQLite). A token saying "email_verified": false
	// is refused. Two users of the account with that email: refused as ambiguous.
	ClaimEmail = "email"
	// ClaimSub matches the user whose externalId equals the claim exactly (the id
	// the identity provider also sends through SCIM).
	ClaimSub = "sub"
	// ClaimPreferredUsername matches the user whose userName equals the claim,
	// ignoring case, as userName uniqueness does.
	ClaimPreferredUsername = "preferred_username"
)

// defaultExternalAlgorithms are accepted when an issuer lists none.
var defaultExternalAlgorithms = []string{"RS256", "ES256"}

// externalAlgorithms are the algorithms an issuer may be configured to use: the
// asymmetric ones. "none" and HMAC are never allowed — an HMAC "secret" would be
// the issuer's public key, which anyone can fetch.
var externalAlgorithms = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
}

// ExternalIssuer is an identity provider whose access tokens Latchkey accepts.
// Its tokens must be signed by a key in its JWKS with one of Algorithms, carry
// iss = Issuer and Audience among aud, and not be expired (exp is required) or
// not yet valid, with 30 seconds' leeway. UserClaim names the user within the
// one account the issuer signs in to (AccountID, or the account named Account).
//
// In LATCHKEY_EXTERNAL_ISSUERS, as JSON:
//
//	[{"issuer": "https://login.example.com/", "jwks_url": "https://login.example.com/.well-known/jwks.json",
//	  "audience": "api://latchkey", "user_claim": "email", "account": "acme"}]
type ExternalIssuer struct {
	Issuer   string `json:"issuer"`
	JWKSURL  string `json:"jwks_url"`
	Audience string `json:"audience"`
	// Algorithms accepted from this issuer (default RS256 and ES256).
	Algorithms []string `json:"algorithms,omitempty"`
	// UserClaim is ClaimEmail (the default), ClaimSub or ClaimPreferredUsername.
	UserClaim string `json:"user_claim,omitempty"`
	// AccountID or Account (the account's name): exactly one.
	AccountID int    `json:"account_id,omitempty"`
	Account   string `json:"account,omitempty"`
}

// ParseExternalIssuers reads a LATCHKEY_EXTERNAL_ISSUERS value: a JSON array of
// issuers, checked and with defaults filled in. Blank means none. Unknown fields
// are refused, so a misspelt setting cannot silently weaken a check.
func ParseExternalIssuers(jsonText string) ([]ExternalIssuer, error) {
	if strings.TrimSpace(jsonText) == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(jsonText))
	dec.DisallowUnknownFields()
	var list []ExternalIssuer
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("%s: want a JSON array of issuers: %w", ExternalIssuersEnv, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: unexpected data after the JSON array", ExternalIssuersEnv)
	}
	out, err := normaliseIssuers(list)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ExternalIssuersEnv, err)
	}
	return out, nil
}

func normaliseIssuers(list []ExternalIssuer) ([]ExternalIssuer, error) {
	out := make([]ExternalIssuer, 0, len(list))
	seen := map[string]bool{}
	for i, is := range list {
		n, err := is.normalise()
		if err != nil {
			return nil, fmt.Errorf("issuer %d (%q): %w", i+1, is.Issuer, err)
		}
		if seen[n.Issuer] {
			return nil, fmt.Errorf("issuer %q is listed twice", n.Issuer)
		}
		seen[n.Issuer] = true
		out = append(out, n)
	}
	return out, nil
}

// normalise checks e and fills in its defaults.
func (e ExternalIssuer) normalise() (ExternalIssuer, error) {
	e.Issuer = strings.TrimSpace(e.Issuer)
	e.Audience = strings.TrimSpace(e.Audience)
	e.Account = strings.TrimSpace(e.Account)
	e.UserClaim = strings.TrimSpace(e.UserClaim)
	switch {
	case e.Issuer == "":
		return e, errors.New("issuer is required")
	case e.Issuer == DefaultIssuer:
		return e, fmt.Errorf("issuer %q is Latchkey's own", DefaultIssuer)
	case e.Audience == "":
		return e, errors.New("audience is required: without it a token minted for any other application would do")
	}
	if err := checkJWKSURL(e.JWKSURL); err != nil {
		return e, err
	}
	if len(e.Algorithms) == 0 {
		e.Algorithms = slices.Clone(defaultExternalAlgorithms)
	}
	for _, alg := range e.Algorithms {
		if !externalAlgorithms[alg] {
			return e, fmt.Errorf("algorithm %q is not allowed: use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA", alg)
		}
	}
	switch e.UserClaim {
	case "":
		e.UserClaim = ClaimEmail
	case ClaimEmail, ClaimSub, ClaimPreferredUsername:
	default:
		return e, fmt.Errorf("user_claim %q: want %q, %q or %q", e.UserClaim, ClaimEmail, ClaimSub, ClaimPreferredUsername)
	}
	if (e.AccountID > 0) == (e.Account != "") || e.AccountID < 0 {
		return e, errors.New("name exactly one account: account_id or account")
	}
	return e, nil
}

// checkJWKSURL wants https, or http to this machine (for development).
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("jwks_url %q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return fmt.Errorf("jwks_url %q must use https", raw)
}

// ExternalVerifier verifies tokens from the configured external issuers. Each
// issuer's JWKS is fetched on its first token, then refreshed in the background
// and whenever a token names a key it does not know (at most once per
// WithJWKSUnknownKIDRefresh interval, so random key ids cannot make Latchkey
// hammer the issuer). Close stops the refreshing.
type ExternalVerifier struct {
	issuers         map[string]*externalIssuer
	ctx             context.Context
	cancel          context.CancelFunc
	httpClient      *http.Client
	httpTimeout     time.Duration
	refreshInterval time.Duration
	unknownKIDEvery time.Duration
	logger          *slog.Logger
	now             func() time.Time
}

type externalIssuer struct {
	cfg ExternalIssuer

	mu sync.Mutex // guards kf
	kf keyfunc.Keyfunc

	accountMu sync.Mutex // guards accountID
	// accountID is cfg.AccountID, or the id of the account named cfg.Account once
	// looked up (account names never change: accounts cannot be updated).
	accountID int
}

// ExternalOption configures an ExternalVerifier.
type ExternalOption func(*ExternalVerifier)

// WithJWKSHTTPClient sets the HTTP client JWKS are fetched with.
func WithJWKSHTTPClient(c *http.Client) ExternalOption {
	return func(v *ExternalVerifier) { v.httpClient = c }
}

// WithJWKSRefreshInterval sets how often each JWKS is fetched again (default 15 minutes).
func WithJWKSRefreshInterval(d time.Duration) ExternalOption {
	return func(v *ExternalVerifier) { v.refreshInterval = d }
}

// WithJWKSUnknownKIDRefresh sets how often, at most, a token with an unknown key
// id makes an issuer's JWKS be fetched again (default once a minute).
func WithJWKSUnknownKIDRefresh(every time.Duration) ExternalOption {
	return func(v *ExternalVerifier) { v.unknownKIDEvery = every }
}

// WithExternalLogger sets where JWKS refresh failures are logged.
func WithExternalLogger(l *slog.Logger) ExternalOption {
	return func(v *ExternalVerifier) { v.logger = l }
}

// NewExternalVerifier checks issuers (as ParseExternalIssuers does) and returns
// a verifier for them. Nothing is fetched until a token needs it.
func NewExternalVerifier(issuers []ExternalIssuer, opts ...ExternalOption) (*ExternalVerifier, error) {
	list, err := normaliseIssuers(issuers)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	v := &ExternalVerifier{
		issuers:         make(map[string]*externalIssuer, len(list)),
		ctx:             ctx,
		cancel:          cancel,
		httpTimeout:     10 * time.Second,
		refreshInterval: 15 * time.Minute,
		unknownKIDEvery: time.Minute,
		now:             time.Now,
	}
	for _, o := range opts {
		o(v)
	}
	if v.httpClient == nil {
		v.httpClient = &http.Client{Timeout: v.httpTimeout}
	}
	for _, is := range list {
		v.issuers[is.Issuer] = &externalIssuer{cfg: is, accountID: is.AccountID}
	}
	return v, nil
}

// Close stops refreshing the JWKS in the background.
func (v *ExternalVerifier) Close() {
	if v != nil {
		v.cancel()
	}
}

// Issuers lists the configured issuers.
func (v *ExternalVerifier) Issuers() []ExternalIssuer {
	out := make([]ExternalIssuer, 0, len(v.issuers))
	for _, ei := range v.issuers {
		out = append(out, ei.cfg)
	}
	slices.SortFunc(out, func(a, b ExternalIssuer) int { return strings.Compare(a.Issuer, b.Issuer) })
	return out
}

func (v *ExternalVerifier) log() *slog.Logger {
	if v.logger != nil {
		return v.logger
	}
	return slog.Default()
}

// ExternalIdentity is who a verified external token names: the value of its
// issuer's UserClaim.
type ExternalIdentity struct {
	Issuer string
	Claim  string // ClaimEmail, ClaimSub or ClaimPreferredUsername
	Value  string
}

// maxClaimLen bounds the user claim before it is looked up.
const maxClaimLen = 255

// Verify checks an external token completely: its issuer is configured, its
// algorithm is one the issuer may use, its signature is by a key in the issuer's
// JWKS of a type fit for that algorithm, its audience and lifetime are right,
// and it names a user by the configured claim. A bad token is a
// problem.Unauthenticated error saying why.
func (v *ExternalVerifier) Verify(ctx context.Context, token string) (ExternalIdentity, error) {
	id, _, err := v.verify(ctx, token)
	return id, err
}

func (v *ExternalVerifier) verify(ctx context.Context, token string) (ExternalIdentity, *externalIssuer, error) {
	p, ok := peek(token)
	if !ok {
		return ExternalIdentity{}, nil, problem.New(problem.Unauthenticated, "", "malformed token")
	}
	ei := v.issuers[p.Iss]
	if ei == nil {
		return ExternalIdentity{}, nil, problem.New(problem.Unauthenticated, "", "token has the wrong issuer")
	}
	cfg := ei.cfg
	// Named before any key is fetched; jwt would refuse it too, as a bad signature.
	if !slices.Contains(cfg.Algorithms, p.Alg) {
		return ExternalIdentity{}, nil, problem.New(problem.Unauthenticated, "", "token algorithm %s is not allowed for its issuer", algName(p.Alg))
	}
	kf, err := v.keyfunc(ei)
	if err != nil {
		return ExternalIdentity{}, nil, err
	}
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods(cfg.Algorithms),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(v.now),
	)
	if _, err := parser.ParseWithClaims(token, claims, checkedKeyfunc(kf.KeyfuncCtx(ctx))); err != nil {
		return ExternalIdentity{}, nil, verifyError(err)
	}

	value, _ := claims[cfg.UserClaim].(string)
	value = strings.TrimSpace(value)
	switch {
	case value == "":
		return ExternalIdentity{}, nil, problem.New(problem.Unauthenticated, "", "token has no %s claim", cfg.UserClaim)
	case len(value) > maxClaimLen:
		return ExternalIdentity{}, nil, problem.New(problem.Unauthenticated, "", "token's %s claim is too long", cfg.UserClaim)
	case cfg.UserClaim == ClaimEmail && unverifiedEmail(claims["email_verified"]):
		return ExternalIdentity{}, nil, problem.New(problem.Unauthenticated, "", "token's email is not verified")
	}
	return ExternalIdentity{Issuer: cfg.Issuer, Claim: cfg.UserClaim, Value: value}, ei, nil
}

// unverifiedEmail reports an email_verified claim that says no. Some providers
// never send the claim (they verify every address), so only an explicit false counts.
func unverifiedEmail(claim any) bool {
	switch c := claim.(type) {
	case bool:
		return !c
	case string:
		return strings.EqualFold(c, "false")
	}
	return false
}

// keyfunc returns the issuer's JWKS-backed key function, fetching the JWKS the
// first time. A failed first fetch is logged and retried on the next token.
func (v *ExternalVerifier) keyfunc(ei *externalIssuer) (keyfunc.Keyfunc, error) {
	ei.mu.Lock()
	defer ei.mu.Unlock()
	if ei.kf != nil {
		return ei.kf, nil
	}
	issuer := ei.cfg.Issuer
	noFirstError := true
	kf, err := keyfunc.NewDefaultOverrideCtx(v.ctx, []string{ei.cfg.JWKSURL}, keyfunc.Override{
		Client:                    v.httpClient,
		HTTPTimeout:               v.httpTimeout,
		NoErrorReturnFirstHTTPReq: &noFirstError,
		RefreshInterval:           v.refreshInterval,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(v.unknownKIDEvery), 1),
		// Bounds the wait for the limiter (refused at once when the next refresh
		// is further off) and the refresh itself.
		RateLimitWaitMax: v.httpTimeout,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				v.log().WarnContext(ctx, "auth: fetching an external issuer's JWKS failed",
					"issuer", issuer, "url", u, "err", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS of %s: %w", issuer, err)
	}
	ei.kf = kf
	return kf, nil
}

// checkedKeyfunc wraps a JWKS key function: the key must be of the type the
// token's algorithm needs (as well as of the algorithm the JWK states, which
// keyfunc checks), and its errors become short reasons.
func checkedKeyfunc(kf jwt.Keyfunc) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		key, err := kf(t)
		if err != nil {
			if !errors.Is(err, jwkset.ErrKeyNotFound) && strings.Contains(err.Error(), `"alg" parameter`) {
				return nil, problem.New(problem.Unauthenticated, "", "token algorithm %s is not allowed for its key", algName(t.Method.Alg()))
			}
			return nil, problem.New(problem.Unauthenticated, "", "token signed by an unknown key")
		}
		if set, ok := key.(jwt.VerificationKeySet); ok {
			// No kid: try the keys that fit the algorithm.
			fit := jwt.VerificationKeySet{}
			for _, k := range set.Keys {
				if keyFits(t.Method, k) {
					fit.Keys = append(fit.Keys, k)
				}
			}
			if len(fit.Keys) == 0 {
				return nil, problem.New(problem.Unauthenticated, "", "token signed by an unknown key")
			}
			return fit, nil
		}
		if !keyFits(t.Method, key) {
			return nil, problem.New(problem.Unauthenticated, "", "token algorithm %s is not allowed for its key", algName(t.Method.Alg()))
		}
		return key, nil
	}
}

// keyFits reports whether key is a public key of the kind method verifies with.
func keyFits(method jwt.SigningMethod, key any) bool {
	switch method.(type) {
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		k, ok := key.(*rsa.PublicKey)
		return ok && k.N.BitLen() >= minRSABits
	case *jwt.SigningMethodECDSA:
		_, ok := key.(*ecdsa.PublicKey)
		return ok
	case *jwt.SigningMethodEd25519:
		_, ok := key.(ed25519.PublicKey)
		return ok
	}
	return false
}

// algName is alg for a message: a known JWS algorithm, or "(unknown)" so that
// whatever an attacker puts in the header is not echoed.
func algName(alg string) string {
	switch {
	case externalAlgorithms[alg], alg == "none", alg == "HS256", alg == "HS384", alg == "HS512":
		return alg
	}
	return "(unknown)"
}

// peeked is what routing needs from a token, read without verifying it.
type peeked struct {
	Alg, Iss, Sub string
}

// peek reads a token's alg, iss and sub without checking anything. Only for
// choosing how to verify it: the verification itself checks iss again.
func peek(token string) (peeked, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return peeked{}, false
	}
	var p peeked
	var header struct {
		Alg string `json:"alg"`
	}
	if raw, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(raw, &header) != nil {
		return peeked{}, false
	}
	var body struct {
		Iss any `json:"iss"`
		Sub any `json:"sub"`
	}
	if raw, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(raw, &body) != nil {
		return peeked{}, false
	}
	p.Alg = header.Alg
	p.Iss, _ = body.Iss.(string)
	p.Sub, _ = body.Sub.(string)
	return p, true
}

// externalByService holds the ExternalVerifier of each Service configured with
// WithExternalIssuers. It is keyed weakly so a Service can still be collected.
// (Service has no field for it; one would replace this map.)
var externalByService sync.Map // weak.Pointer[Service] → *ExternalVerifier

// WithExternalIssuers makes the Service's Middleware also accept tokens from
// v's issuers, as the user their configured claim names. Latchkey's own issuer
// always wins: a token with iss equal to the Service's issuer is never treated
// as external.
func WithExternalIssuers(v *ExternalVerifier) Option {
	return func(s *Service) {
		key := weak.Make(s)
		if v == nil {
			externalByService.Delete(key)
			return
		}
		if _, loaded := externalByService.Swap(key, v); !loaded {
			runtime.AddCleanup(s, func(k weak.Pointer[Service]) { externalByService.Delete(k) }, key)
		}
	}
}

// external is the Service's ExternalVerifier, or nil.
func (s *Service) external() *ExternalVerifier {
	v, _ := externalByService.Load(weak.Make(s))
	ev, _ := v.(*ExternalVerifier)
	return ev
}

// verifyBearer verifies any token Middleware accepts and says who it speaks for:
// a user (sub) for Latchkey's user tokens and external tokens, or a ready
// viewer (svc) for service tokens issued to API clients.
//
// Routing is by the unverified iss (and, for Latchkey's own tokens, sub):
// Latchkey's issuer with sub "client:<id>" is a service token; Latchkey's issuer
// otherwise, or no issuer at all, is a user token (Verify); a configured external
// issuer goes to its verifier; any other issuer is refused.
func (s *Service) verifyBearer(ctx context.Context, token string) (sub Subject, svc *viewer.Viewer, err error) {
	// A user token verified before skips the routing: decoding its JSON to peek
	// cost a quarter of a cached check's authentication.
	if sub, ok, err := s.remembered(ctx, sha256.Sum256([]byte(token))); ok || err != nil {
		return sub, nil, err
	}
	p, ok := peek(token)
	switch {
	case !ok || p.Iss == "":
		// Verify says what is wrong with it.
	case p.Iss == s.issuer:
		if strings.HasPrefix(p.Sub, serviceSubjectPrefix) {
			svc, err = s.verifyService(ctx, token)
			return Subject{}, svc, err
		}
	default:
		ext := s.external()
		if ext == nil || ext.issuers[p.Iss] == nil {
			return Subject{}, nil, problem.New(problem.Unauthenticated, "", "token has the wrong issuer")
		}
		sub, err = s.externalSubject(ctx, ext, token)
		return sub, nil, err
	}
	sub, err = s.Verify(ctx, token)
	return sub, nil, err
}

// externalSubject verifies an external token and finds the user it names in its
// issuer's account. Whether the user may sign in (active, not suspended) is
// checked by the caller, as for Latchkey's own tokens.
func (s *Service) externalSubject(ctx context.Context, ext *ExternalVerifier, token string) (Subject, error) {
	id, ei, err := ext.verify(ctx, token)
	if err != nil {
		return Subject{}, err
	}
	acct, err := ei.account(ctx, s.client)
	if err != nil {
		return Subject{}, err
	}
	sys := viewer.System(ctx, acct, "auth")
	q := s.client.User.Query().Select(user.FieldID, user.FieldEmail)
	switch id.Claim {
	case ClaimEmail:
		// On MySQL EqualFold compares with a collation that also ignores accents;
		// the exact case-insensitive comparison is made below.
		q.Where(user.EmailEqualFold(id.Value))
	case ClaimSub:
		q.Where(user.ExternalID(id.Value))
	case ClaimPreferredUsername:
		q.Where(user.UserNameKey(strings.ToLower(id.Value)))
	}
	users, err := q.All(sys)
	if err != nil {
		return Subject{}, err
	}
	var ids []int
	for _, u := range users {
		if id.Claim != ClaimEmail || strings.EqualFold(u.Email, id.Value) {
			ids = append(ids, u.ID)
		}
	}
	switch len(ids) {
	case 0:
		return Subject{}, problem.New(problem.Unauthenticated, "", "no user of the issuer's account matches the token's %s", id.Claim)
	case 1:
		return Subject{AccountID: acct, UserID: ids[0]}, nil
	default:
		return Subject{}, problem.New(problem.Unauthenticated, "", "the token's %s matches more than one user", id.Claim)
	}
}

// account is the id of the issuer's account. A configured account name that
// names no account is a configuration error, not the token's fault.
func (ei *externalIssuer) account(ctx context.Context, client *ent.Client) (int, error) {
	ei.accountMu.Lock()
	defer ei.accountMu.Unlock()
	if ei.accountID > 0 {
		return ei.accountID, nil
	}
	a, err := client.Account.Query().Where(account.Name(ei.cfg.Account)).Only(allow(ctx))
	if err != nil {
		return 0, fmt.Errorf("auth: account %q of external issuer %s: %w", ei.cfg.Account, ei.cfg.Issuer, err)
	}
	ei.accountID = a.ID
	return a.ID, nil
}
