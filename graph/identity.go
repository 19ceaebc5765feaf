package graph

import (
	"context"
	"errors"
	"strings"

	"latchkey/ent"
	"latchkey/ent/user"
	"latchkey/internal/access"
	"latchkey/internal/admin"
	"latchkey/internal/identity"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// signInOperations run outside the per-operation transaction: each opens its own, so
// that what must stick even when the call fails (a reused refresh token revoking its
// family) is committed, and so they need no caller.
var signInOperations = []string{"login", "refreshToken", "logout", "acceptInvitation",
	"changePassword", "requestPasswordReset", "resetPassword"}

// inTx runs f in a transaction of its own, committing on success and when f fails
// with an error that must keep its effects (refresh-token reuse).
func inTx[T any](ctx context.Context, client *ent.Client, f func(*ent.Client) (T, error)) (T, error) {
	var zero T
	tx, err := client.Tx(ctx)
	if err != nil {
		return zero, err
	}
	out, err := f(tx.Client())
	if err != nil && !errors.Is(err, identity.ErrRefreshTokenReused) {
		_ = tx.Rollback()
		return zero, err
	}
	if cerr := tx.Commit(); cerr != nil {
		return zero, cerr
	}
	return out, err
}

// limitLogin slows guessing: attempts per login and per client address.
func (r *Resolver) limitLogin(ctx context.Context, email string) error {
	if r.limits == nil {
		return nil
	}
	if ok, wait := r.limits.PerAddress.Allow(viewer.ClientAddr(ctx)); !ok {
		return tooMany(wait.Seconds())
	}
	if ok, wait := r.limits.PerLogin.Allow(loginKey(email)); !ok {
		return tooMany(wait.Seconds())
	}
	return nil
}

// signedIn clears a login's attempts after a success: the limit slows guessing, not
// people who know their password.
func (r *Resolver) signedIn(email string) {
	if r.limits != nil {
		r.limits.PerLogin.Reset(loginKey(email))
	}
}

func loginKey(email string) string { return "login:" + strings.ToLower(strings.TrimSpace(email)) }

func tooMany(seconds float64) error {
	return problem.New(problem.TooManyRequests, "", "too many attempts; try again in %.0f seconds", seconds+0.5)
}

// createUser adds the user and sends them an invitation (to set up a login, or to
// link the one their email already has) in the same transaction.
func (r *Resolver) createUser(ctx context.Context, in admin.CreateUserInput) (*ent.User, error) {
	db := r.db(ctx)
	u, err := admin.CreateUser(ctx, db, in)
	if err != nil || r.identity == nil {
		return u, err
	}
	_, _, err = r.identity.Invite(ctx, db, u)
	return u, err
}

// updateUser changes the user; a new email gets a new invitation (the old link was
// for the old address), and a deactivated user's sessions end at once.
func (r *Resolver) updateUser(ctx context.Context, in admin.UpdateUserInput) (*ent.User, error) {
	db := r.db(ctx)
	before, err := db.User.Get(ctx, in.ID)
	if err != nil {
		return nil, problem.MissingIfNotFound(err, "id", "user")
	}
	u, err := admin.UpdateUser(ctx, db, in)
	if err != nil || r.identity == nil {
		return u, err
	}
	if !u.Active || u.Status == user.StatusSUSPENDED {
		if err := r.identity.RevokeUser(ctx, db, u.ID); err != nil {
			return nil, err
		}
	}
	if u.IdentityID == nil && !strings.EqualFold(before.Email, u.Email) {
		if _, _, err := r.identity.Invite(ctx, db, u); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// endSessions revokes the refresh tokens of users a bulk change deactivated.
func (r *Resolver) endSessions(ctx context.Context, sel access.UserSelection, res *access.Result, err error) (*access.Result, error) {
	if err != nil || r.identity == nil || res.DryRun {
		return res, err
	}
	ids, err := sel.Resolve(ctx, r.db(ctx))
	if err != nil {
		return nil, err
	}
	return res, r.identity.RevokeUsers(ctx, r.db(ctx), ids)
}
