package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"latchkey/ent"
	"latchkey/ent/account"
	"latchkey/ent/identity"
	"latchkey/ent/refreshtoken"
	"latchkey/ent/user"
	"latchkey/internal/auth"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// Tokens are what a login, a refresh or a password change hands the client.
type Tokens struct {
	AccessToken string
	// ExpiresAt is when the access token expires.
	ExpiresAt time.Time
	// RefreshToken obtains the next pair (once) until RefreshExpiresAt.
	RefreshToken     string
	RefreshExpiresAt time.Time
	AccountID        int
	UserID           int
}

// AccountChoice is one account a login opens.
type AccountChoice struct {
	ID   int
	Name string
}

// ChooseAccountError is the error of a login that opens several accounts and named
// none: BAD_USER_INPUT on "accountId". Its message names no account; Accounts lists
// them for a caller that wants to offer the choice (the password was right, so
// they are the caller's own).
type ChooseAccountError struct {
	Accounts []AccountChoice
	problem  *problem.Error
}

func (e *ChooseAccountError) Error() string { return e.problem.Error() }
func (e *ChooseAccountError) Unwrap() error { return e.problem }

// ErrRefreshTokenReused is in the chain of Refresh's error when the token presented
// had already been used: its whole family was revoked on the client passed in, and
// the caller must COMMIT that transaction even though the refresh failed, or the
// revocation is lost.
var ErrRefreshTokenReused = errors.New("identity: refresh token reused")

type reuseError struct{ problem *problem.Error }

func (e *reuseError) Error() string   { return e.problem.Error() }
func (e *reuseError) Unwrap() []error { return []error{e.problem, ErrRefreshTokenReused} }

func errInvalidLogin() error {
	return problem.New(problem.Unauthenticated, "", "invalid email or password")
}

func errInvalidRefresh() error {
	return problem.New(problem.Unauthenticated, "", "invalid or expired refresh token")
}

// Login checks email and password and starts a session for the identity's user in
// one account: the only one with an active, not suspended user, or accountID when
// there are several (without it: a *ChooseAccountError). An unknown email, an
// identity without a password and a wrong password all give the same
// UNAUTHENTICATED "invalid email or password" after the same password-hashing
// work. It sets the user's last login and returns an access token and the first
// refresh token of a new family.
func (s *Service) Login(ctx context.Context, client *ent.Client, email, password string, accountID *int) (*Tokens, error) {
	idn, err := client.Identity.Query().Where(identity.Email(normEmail(email))).Only(allow(ctx))
	switch {
	case notFound(err) || (err == nil && idn.PasswordHash == ""):
		checkPassword(dummyHash(), password)
		return nil, errInvalidLogin()
	case err != nil:
		return nil, err
	}
	ok, rehash := checkPassword(idn.PasswordHash, password)
	if !ok {
		return nil, errInvalidLogin()
	}
	// The identity's users across accounts, read under the system decision and
	// confined to this identity; each is then written in its own account.
	users, err := client.User.Query().
		Where(user.IdentityID(idn.ID), user.Active(true), user.StatusNEQ(user.StatusSUSPENDED)).
		Order(user.ByAccountID(), user.ByID()).
		All(allow(ctx))
	if err != nil {
		return nil, err
	}
	if accountID != nil {
		var in []*ent.User
		for _, u := range users {
			if u.AccountID == *accountID {
				in = append(in, u)
			}
		}
		if len(in) == 0 {
			return nil, problem.New(problem.Unauthenticated, "", "this login has no active user in that account")
		}
		users = in
	}
	switch {
	case len(users) == 0:
		return nil, problem.New(problem.Unauthenticated, "", "this login has no active user")
	case len(users) > 1 && users[0].AccountID != users[len(users)-1].AccountID:
		return nil, s.chooseAccount(ctx, client, users)
	}
	if rehash {
		if hash := upgradedHash(password, idn.PasswordHash); hash != idn.PasswordHash {
			if err := client.Identity.UpdateOne(idn).SetPasswordHash(hash).Exec(allow(ctx)); err != nil {
				return nil, err
			}
		}
	}
	u := users[0]
	if err := client.User.UpdateOne(u).SetLastLoginAt(s.now()).Exec(system(ctx, u.AccountID)); err != nil {
		return nil, err
	}
	return s.startSession(ctx, client, u, "")
}

func (s *Service) chooseAccount(ctx context.Context, client *ent.Client, users []*ent.User) error {
	ids := make([]int, 0, len(users))
	for _, u := range users {
		ids = append(ids, u.AccountID)
	}
	accts, err := client.Account.Query().Where(account.IDIn(ids...)).All(allow(ctx))
	if err != nil {
		return err
	}
	choices := make([]AccountChoice, len(accts))
	for i, a := range accts {
		choices[i] = AccountChoice{ID: a.ID, Name: a.Name}
	}
	sort.Slice(choices, func(i, j int) bool { return choices[i].Name < choices[j].Name })
	return &ChooseAccountError{
		Accounts: choices,
		problem:  problem.BadInput("accountId", "this login opens %d accounts: choose one with accountId", len(choices)),
	}
}

// startSession issues an access token and a refresh token for u, in family (a new
// family when "").
func (s *Service) startSession(ctx context.Context, client *ent.Client, u *ent.User, family string) (*Tokens, error) {
	if family == "" {
		var err error
		if family, err = newFamily(); err != nil {
			return nil, err
		}
	}
	token, hash, err := newSecret()
	if err != nil {
		return nil, err
	}
	refreshExp := s.now().Add(s.cfg.RefreshTTL)
	if err := client.RefreshToken.Create().
		SetUserID(u.ID).
		SetFamily(family).
		SetTokenHash(hash).
		SetExpiresAt(refreshExp).
		Exec(system(ctx, u.AccountID)); err != nil {
		return nil, err
	}
	access, exp, err := s.auth.Issue(ctx, auth.Subject{AccountID: u.AccountID, UserID: u.ID})
	if err != nil {
		return nil, err
	}
	return &Tokens{
		AccessToken:      access,
		ExpiresAt:        exp,
		RefreshToken:     token,
		RefreshExpiresAt: refreshExp,
		AccountID:        u.AccountID,
		UserID:           u.ID,
	}, nil
}

// Refresh rotates refreshToken: it is used up and a new one in the same family is
// returned with a new access token. An unknown, expired or revoked token, or one
// whose user is no longer active (inactive, suspended, deleted, unlinked), is
// UNAUTHENTICATED. Presenting a token that was already used revokes its whole
// family (someone holds a copy) and fails UNAUTHENTICATED with
// ErrRefreshTokenReused in the chain: the caller must commit the revocation.
func (s *Service) Refresh(ctx context.Context, client *ent.Client, refreshToken string) (*Tokens, error) {
	if refreshToken == "" || len(refreshToken) > maxTokenLen {
		return nil, errInvalidRefresh()
	}
	now := s.now()
	rt, err := client.RefreshToken.Query().Where(refreshtoken.TokenHash(hashSecret(refreshToken))).Only(allow(ctx))
	switch {
	case notFound(err):
		return nil, errInvalidRefresh()
	case err != nil:
		return nil, err
	case rt.RevokedAt != nil:
		return nil, errInvalidRefresh()
	}
	sys := system(ctx, rt.AccountID)
	if rt.UsedAt != nil {
		return nil, s.reused(sys, client, rt.Family)
	}
	if !now.Before(rt.ExpiresAt) {
		return nil, errInvalidRefresh()
	}
	u, err := client.User.Get(sys, rt.UserID)
	switch {
	case notFound(err):
		return nil, errInvalidRefresh()
	case err != nil:
		return nil, err
	case !u.Active || u.Status == user.StatusSUSPENDED || u.IdentityID == nil:
		return nil, errInvalidRefresh()
	}
	n, err := client.RefreshToken.Update().
		Where(refreshtoken.ID(rt.ID), refreshtoken.UsedAtIsNil(), refreshtoken.RevokedAtIsNil()).
		SetUsedAt(now).Save(sys)
	if err != nil {
		return nil, err
	}
	if n != 1 { // used by a concurrent refresh: that is a reuse too
		return nil, s.reused(sys, client, rt.Family)
	}
	return s.startSession(ctx, client, u, rt.Family)
}

// reused revokes family after a reuse and returns the error saying so.
func (s *Service) reused(sys context.Context, client *ent.Client, family string) error {
	if err := s.revokeFamily(sys, client, family); err != nil {
		return err
	}
	return &reuseError{problem.New(problem.Unauthenticated, "", "refresh token was already used: the session is revoked")}
}

func (s *Service) revokeFamily(sys context.Context, client *ent.Client, family string) error {
	return client.RefreshToken.Update().
		Where(refreshtoken.Family(family), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(s.now()).Exec(sys)
}

// Logout ends the session of refreshToken: its whole family is revoked. An unknown
// or already revoked token is not an error (there is nothing left to end).
func (s *Service) Logout(ctx context.Context, client *ent.Client, refreshToken string) error {
	if refreshToken == "" || len(refreshToken) > maxTokenLen {
		return nil
	}
	rt, err := client.RefreshToken.Query().Where(refreshtoken.TokenHash(hashSecret(refreshToken))).Only(allow(ctx))
	switch {
	case notFound(err):
		return nil
	case err != nil:
		return err
	}
	return s.revokeFamily(system(ctx, rt.AccountID), client, rt.Family)
}

// RevokeUser revokes every refresh token of a user, so that they cannot obtain new
// access tokens (the ones issued live out their 15 minutes, and the middleware
// already refuses a suspended, inactive or deleted user). With a viewer in ctx it
// acts only inside the viewer's account.
func (s *Service) RevokeUser(ctx context.Context, client *ent.Client, userID int) error {
	accountID := 0
	if v := viewer.FromContext(ctx); v != nil {
		accountID = v.AccountID
	} else {
		rt, err := client.RefreshToken.Query().Where(refreshtoken.UserID(userID)).First(allow(ctx))
		switch {
		case notFound(err):
			return nil
		case err != nil:
			return err
		}
		accountID = rt.AccountID
	}
	return s.revokeUsers(system(ctx, accountID), client, []int{userID})
}

// RevokeUsers revokes every refresh token of the users (in the caller's account), a
// chunk of users per statement: for deactivating a whole selection at once.
func (s *Service) RevokeUsers(ctx context.Context, client *ent.Client, userIDs []int) error {
	return s.revokeUsers(ctx, client, userIDs)
}

func (s *Service) revokeUsers(ctx context.Context, client *ent.Client, userIDs []int) error {
	for chunk := range slices.Chunk(userIDs, 5000) {
		if err := client.RefreshToken.Update().
			Where(refreshtoken.UserIDIn(chunk...), refreshtoken.RevokedAtIsNil()).
			SetRevokedAt(s.now()).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// revokeIdentity revokes the refresh tokens of every user of an identity, in every
// account.
func (s *Service) revokeIdentity(ctx context.Context, client *ent.Client, identityID int) error {
	users, err := client.User.Query().Where(user.IdentityID(identityID)).
		Select(user.FieldID, user.FieldAccountID).All(allow(ctx))
	if err != nil {
		return err
	}
	byAccount := map[int][]int{}
	for _, u := range users {
		byAccount[u.AccountID] = append(byAccount[u.AccountID], u.ID)
	}
	for acct, ids := range byAccount {
		if err := client.RefreshToken.Update().
			Where(refreshtoken.UserIDIn(ids...), refreshtoken.RevokedAtIsNil()).
			SetRevokedAt(s.now()).Exec(system(ctx, acct)); err != nil {
			return fmt.Errorf("identity: revoking sessions: %w", err)
		}
	}
	return nil
}
