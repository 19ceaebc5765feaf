package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"latchkey/ent"
	"latchkey/ent/apiclient"
	"latchkey/ent/apiclientsecret"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

const (
	// clientIDPrefix starts every API client's public client_id.
	clientIDPrefix = "lkc_"
	// ClientSecretPrefix marks Latchkey client secrets, so secret scanners can
	// find leaked ones.
	ClientSecretPrefix = "lk_cs_"
	// maxClientSecretLen bounds a presented secret before it is hashed.
	maxClientSecretLen = 128
	// maxClientIDLen is the client_id column's size.
	maxClientIDLen = 64
	// serviceSubjectPrefix starts the sub of a service token: "client:<id>".
	serviceSubjectPrefix = "client:"
)

// HashClientSecret is the stored form of a client secret (SHA-256, hex): the
// secret is 256 random bits, so a fast hash is enough.
func HashClientSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// newClientSecret returns a fresh secret, its hash and the prefix kept to
// recognise it by (the marker and 4 characters).
func newClientSecret() (secret, hash, prefix string, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", "", err
	}
	secret = ClientSecretPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	return secret, HashClientSecret(secret), secret[:len(ClientSecretPrefix)+4], nil
}

// CreateAPIClient creates an API client in the caller's account (the viewer in
// ctx) holding roleIDs, with a first secret, and returns the secret, which is
// stored only as a hash and cannot be shown again. Whether the caller may do
// this, and may hand out those roles, is for the caller to check first. client
// may be a transaction's client; otherwise a transaction is opened.
func CreateAPIClient(ctx context.Context, client *ent.Client, name string, roleIDs []int) (*ent.APIClient, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, "", problem.BadInput("name", "name must not be empty")
	}
	secret, hash, prefix, err := newClientSecret()
	if err != nil {
		return nil, "", err
	}
	var c *ent.APIClient
	owned, err := inTxOwned(ctx, client, func(tx *ent.Client) error {
		taken, err := tx.APIClient.Query().Where(apiclient.Name(name)).Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			return problem.Duplicate("name", "an API client named %q already exists", name)
		}
		c, err = tx.APIClient.Create().
			SetName(name).
			SetClientID(clientIDPrefix + strings.ToLower(rand.Text())).
			AddRoleIDs(uniqueIDs(roleIDs)...).
			Save(ctx)
		if err != nil {
			return err
		}
		return tx.APIClientSecret.Create().SetAPIClientID(c.ID).SetSecretHash(hash).SetPrefix(prefix).Exec(ctx)
	})
	if err != nil {
		return nil, "", err
	}
	if owned {
		c = c.Unwrap() // usable after the commit
	}
	return c, secret, nil
}

// RotateAPIClientSecret gives the API client id (in the caller's account) a new
// secret and returns it. Its current secrets stay valid for keepOld, so the
// client can switch over without downtime, and then expire; with keepOld <= 0
// they are revoked at once. A secret already due to expire sooner keeps its date.
func RotateAPIClientSecret(ctx context.Context, client *ent.Client, id int, keepOld time.Duration) (string, error) {
	secret, hash, prefix, err := newClientSecret()
	if err != nil {
		return "", err
	}
	err = inTx(ctx, client, func(tx *ent.Client) error {
		if _, err := tx.APIClient.Get(ctx, id); err != nil {
			return problem.MissingIfNotFound(err, "id", "API client")
		}
		now := time.Now()
		old := tx.APIClientSecret.Update().Where(apiclientsecret.APIClientID(id), apiclientsecret.RevokedAtIsNil())
		if keepOld > 0 {
			until := now.Add(keepOld)
			old.Where(apiclientsecret.Or(apiclientsecret.ExpiresAtIsNil(), apiclientsecret.ExpiresAtGT(until))).SetExpiresAt(until)
		} else {
			old.SetRevokedAt(now)
		}
		if err := old.Exec(ctx); err != nil {
			return err
		}
		return tx.APIClientSecret.Create().SetAPIClientID(id).SetSecretHash(hash).SetPrefix(prefix).Exec(ctx)
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// RevokeAPIClientSecrets revokes every secret of the API client id (in the
// caller's account) and returns how many were still valid. The client can get
// no new token until it is given a new secret, and tokens issued with a revoked
// secret stop working at once. To stop the client altogether, set it inactive.
func RevokeAPIClientSecrets(ctx context.Context, client *ent.Client, id int) (int, error) {
	var n int
	err := inTx(ctx, client, func(tx *ent.Client) error {
		if _, err := tx.APIClient.Get(ctx, id); err != nil {
			return problem.MissingIfNotFound(err, "id", "API client")
		}
		var err error
		n, err = tx.APIClientSecret.Update().
			Where(apiclientsecret.APIClientID(id), apiclientsecret.RevokedAtIsNil()).
			SetRevokedAt(time.Now()).
			Save(ctx)
		return err
	})
	return n, err
}

// inTx runs fn in a transaction, or in client's own when it already is one.
func inTx(ctx context.Context, client *ent.Client, fn func(*ent.Client) error) error {
	_, err := inTxOwned(ctx, client, fn)
	return err
}

// inTxOwned is inTx that also reports whether it opened (and committed) the
// transaction, in which case entities fn made must be unwrapped to be used.
func inTxOwned(ctx context.Context, client *ent.Client, fn func(*ent.Client) error) (owned bool, err error) {
	tx, err := client.Tx(ctx)
	if errors.Is(err, ent.ErrTxStarted) {
		return false, fn(client)
	}
	if err != nil {
		return false, err
	}
	if err := fn(tx.Client()); err != nil {
		if rb := tx.Rollback(); rb != nil {
			return true, errors.Join(err, rb)
		}
		return true, err
	}
	return true, tx.Commit()
}

func uniqueIDs(ids []int) []int {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// ClientSubject is who a service token speaks for: one API client.
type ClientSubject struct {
	AccountID   int
	APIClientID int    // the client's record id
	ClientID    string // its public client_id
	// SecretID is the secret the client authenticated with: revoking it ends
	// the token too. 0 binds the token to no secret.
	SecretID int
}

// serviceClaims is the payload of a service token. It is told apart from a
// user token by its sub, "client:<id>", which Verify refuses as not a user.
type serviceClaims struct {
	jwt.RegisteredClaims
	AccountID int    `json:"acct"`
	ClientID  string `json:"client_id"`
	SecretID  int    `json:"sid,omitempty"`
}

// IssueForClient signs a service access token for sub with the same keys,
// issuer, audience and lifetime as user tokens, and returns it with its expiry.
// It does not check or audit anything: OAuthTokenHandler does.
func (s *Service) IssueForClient(ctx context.Context, sub ClientSubject) (string, time.Time, error) {
	if sub.AccountID <= 0 || sub.APIClientID <= 0 {
		return "", time.Time{}, errors.New("auth: issue: subject needs an account and an API client")
	}
	return s.sign(ctx, serviceSubjectPrefix+strconv.Itoa(sub.APIClientID), func(rc jwt.RegisteredClaims) jwt.Claims {
		return serviceClaims{RegisteredClaims: rc, AccountID: sub.AccountID, ClientID: sub.ClientID, SecretID: sub.SecretID}
	})
}

// parseOwn verifies a token Latchkey signed (key, algorithm, issuer, audience,
// lifetime) into c, as Verify does for user tokens.
func (s *Service) parseOwn(ctx context.Context, token string, c jwt.Claims) error {
	p := jwt.NewParser(
		jwt.WithIssuer(s.issuer),
		jwt.WithAudience(s.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithStrictDecoding(),
	)
	var storeErr error
	_, err := p.ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		key, err := s.keys.verifier(ctx, kid)
		if err != nil {
			if _, ok := errors.AsType[*problem.Error](err); !ok {
				storeErr = err
			}
			return nil, err
		}
		if alg := t.Method.Alg(); alg != key.alg {
			return nil, problem.New(problem.Unauthenticated, "", "token algorithm %s is not allowed for its key", alg)
		}
		return key.public, nil
	})
	if storeErr != nil {
		return storeErr
	}
	if err != nil {
		return verifyError(err)
	}
	return nil
}

// verifyService verifies a service token and returns the viewer it speaks for.
// The client must still exist and be active, and the secret the token was
// issued for must not have been revoked.
func (s *Service) verifyService(ctx context.Context, token string) (*viewer.Viewer, error) {
	var c serviceClaims
	if err := s.parseOwn(ctx, token, &c); err != nil {
		return nil, err
	}
	id, err := strconv.Atoi(strings.TrimPrefix(c.Subject, serviceSubjectPrefix))
	if err != nil || id <= 0 {
		return nil, problem.New(problem.Unauthenticated, "", "token subject is not an API client")
	}
	if c.AccountID <= 0 {
		return nil, problem.New(problem.Unauthenticated, "", "token has no account")
	}
	sys := viewer.System(ctx, c.AccountID, "auth")
	cl, err := s.client.APIClient.Get(sys, id)
	switch {
	case ent.IsNotFound(err):
		return nil, problem.New(problem.Unauthenticated, "", "API client not found")
	case err != nil:
		return nil, err
	case !cl.Active:
		return nil, problem.New(problem.Unauthenticated, "", "API client is inactive")
	}
	if c.SecretID > 0 {
		ok, err := s.client.APIClientSecret.Query().
			Where(apiclientsecret.ID(c.SecretID), apiclientsecret.APIClientID(id), apiclientsecret.RevokedAtIsNil()).
			Exist(sys)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, problem.New(problem.Unauthenticated, "", "the client secret the token was issued for is revoked")
		}
	}
	return ServiceViewer(cl), nil
}

// ServiceViewer is the viewer an API client acts as.
func ServiceViewer(c *ent.APIClient) *viewer.Viewer {
	return &viewer.Viewer{
		AccountID: c.AccountID,
		Kind:      viewer.KindService,
		ActorID:   c.ID,
		Actor:     "service:" + c.Name,
	}
}

// authenticateClient checks a client_id and secret and returns the client and
// the secret that matched. Failures are problem.Unauthenticated errors whose
// message says why, for the log only: the client is told invalid_client.
func (s *Service) authenticateClient(ctx context.Context, clientID, secret string) (*ent.APIClient, *ent.APIClientSecret, error) {
	refuse := func(reason string) (*ent.APIClient, *ent.APIClientSecret, error) {
		return nil, nil, problem.New(problem.Unauthenticated, "", "%s", reason)
	}
	if clientID == "" || len(clientID) > maxClientIDLen || secret == "" || len(secret) > maxClientSecretLen {
		return refuse("malformed client credentials")
	}
	// The client_id names the account, so it is looked up across accounts.
	c, err := s.client.APIClient.Query().Where(apiclient.ClientID(clientID)).Only(allow(ctx))
	switch {
	case ent.IsNotFound(err):
		return refuse("unknown client")
	case err != nil:
		return nil, nil, fmt.Errorf("auth: look up API client: %w", err)
	case !c.Active:
		return refuse("API client is inactive")
	}
	sys := viewer.System(ctx, c.AccountID, "oauth")
	secrets, err := s.client.APIClientSecret.Query().Where(apiclientsecret.APIClientID(c.ID)).All(sys)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: look up client secrets: %w", err)
	}
	want := []byte(HashClientSecret(secret))
	var match *ent.APIClientSecret
	for _, sec := range secrets {
		// Every stored hash is compared, in constant time.
		if subtle.ConstantTimeCompare([]byte(sec.SecretHash), want) == 1 {
			match = sec
		}
	}
	switch {
	case match == nil:
		return refuse("wrong client secret")
	case match.RevokedAt != nil:
		return refuse("client secret is revoked")
	case match.ExpiresAt != nil && !s.now().Before(*match.ExpiresAt):
		return refuse("client secret has expired")
	}
	return c, match, nil
}
