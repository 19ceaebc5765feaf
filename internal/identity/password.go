package identity

import (
	"context"
	"fmt"
	"html"

	"latchkey/ent"
	"latchkey/ent/identity"
	"latchkey/ent/passwordreset"
	"latchkey/ent/user"
	"latchkey/internal/audit"
	"latchkey/internal/auth"
	"latchkey/internal/mail"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

func errBadReset() error {
	return problem.BadInput("token", "the password reset link is invalid, already used or expired")
}

// ChangePassword changes the password of userID's identity — the user of the
// caller's account (the viewer in ctx; normally the caller themself) — after
// checking current. Every session of the identity, in every account, is revoked,
// and a new one is started for userID: the returned tokens replace the caller's.
// Errors: BAD_USER_INPUT on "currentPassword" (wrong, or the user has no password
// login) or on "newPassword" (the password policy).
func (s *Service) ChangePassword(ctx context.Context, client *ent.Client, userID int, current, newPassword string) (*Tokens, error) {
	v := viewer.FromContext(ctx)
	if v == nil {
		return nil, problem.New(problem.Unauthenticated, "", "not signed in")
	}
	sys := system(ctx, v.AccountID)
	u, err := client.User.Get(sys, userID)
	if err != nil {
		return nil, problem.MissingIfNotFound(err, "userId", "user")
	}
	if u.IdentityID == nil {
		return nil, problem.BadInput("currentPassword", "this user has no password login yet")
	}
	idn, err := client.Identity.Get(allow(ctx), *u.IdentityID)
	if err != nil {
		return nil, err
	}
	hash := idn.PasswordHash
	if hash == "" {
		hash = dummyHash()
	}
	if ok, _ := checkPassword(hash, current); !ok || idn.PasswordHash == "" {
		return nil, problem.BadInput("currentPassword", "the current password is not correct")
	}
	newHash, err := auth.HashPassword(newPassword)
	if err != nil {
		return nil, renameField(err, "newPassword")
	}
	if err := s.setPassword(ctx, client, idn.ID, newHash, "identity.password_change"); err != nil {
		return nil, err
	}
	return s.startSession(ctx, client, u, "")
}

// RequestPasswordReset sends the identity with email, if there is one, a
// single-use link <BaseURL>/reset-password?token=<token> that expires after
// ResetTTL, replacing any earlier open one. The answer is the same whether or not
// the email is known: nil (errors are the store's only).
func (s *Service) RequestPasswordReset(ctx context.Context, client *ent.Client, email string) error {
	_, err := s.requestReset(ctx, client, email)
	return err
}

// requestReset is RequestPasswordReset returning the token ("" for an unknown
// email), for tests.
func (s *Service) requestReset(ctx context.Context, client *ent.Client, email string) (string, error) {
	key := normEmail(email)
	if key == "" || len(key) > 254 {
		return "", nil
	}
	idn, err := client.Identity.Query().Where(identity.Email(key)).Only(allow(ctx))
	switch {
	case notFound(err):
		return "", nil
	case err != nil:
		return "", err
	}
	if _, err := client.PasswordReset.Delete().
		Where(passwordreset.IdentityID(idn.ID), passwordreset.UsedAtIsNil()).Exec(allow(ctx)); err != nil {
		return "", err
	}
	token, hash, err := newSecret()
	if err != nil {
		return "", err
	}
	reset, err := client.PasswordReset.Create().
		SetIdentityID(idn.ID).
		SetTokenHash(hash).
		SetExpiresAt(s.now().Add(s.cfg.ResetTTL)).
		Save(allow(ctx))
	if err != nil {
		return "", err
	}
	link := s.link("/reset-password", token)
	when := reset.ExpiresAt.UTC().Format("Mon, 2 Jan 2006 15:04 MST")
	intro := fmt.Sprintf("Someone asked to reset the password of the Latchkey login %s.", idn.Email)
	action := "To choose a new password, open this link:"
	outro := fmt.Sprintf("The link works once and expires on %s. If you did not ask for this, ignore this email: your password stays as it is.", when)
	e := html.EscapeString
	msg := mail.Message{
		To:      idn.Email,
		Subject: "Reset your Latchkey password",
		Text:    fmt.Sprintf("Hello,\n\n%s\n\n%s\n%s\n\n%s\n", intro, action, link, outro),
		HTML: fmt.Sprintf("<!DOCTYPE html><html><body>\n<p>Hello,</p>\n<p>%s</p>\n<p>%s</p>\n<p><a href=\"%s\">Choose a new password</a></p>\n<p>%s</p>\n</body></html>\n",
			e(intro), e(action), e(link), e(outro)),
	}
	if err := mail.Enqueue(ctx, client, msg); err != nil {
		return "", err
	}
	return token, nil
}

// ResetPassword sets the password of the identity that token was sent to, uses
// the token up and revokes every session of the identity's users. An unknown, used
// or expired token is BAD_USER_INPUT on "token"; the password policy is reported
// on "password".
func (s *Service) ResetPassword(ctx context.Context, client *ent.Client, token, newPassword string) error {
	if token == "" || len(token) > maxTokenLen {
		return errBadReset()
	}
	now := s.now()
	pr, err := client.PasswordReset.Query().Where(passwordreset.TokenHash(hashSecret(token))).Only(allow(ctx))
	switch {
	case notFound(err):
		return errBadReset()
	case err != nil:
		return err
	case pr.UsedAt != nil || !now.Before(pr.ExpiresAt):
		return errBadReset()
	}
	newHash, err := auth.HashPassword(newPassword)
	if err != nil {
		return err
	}
	n, err := client.PasswordReset.Update().
		Where(passwordreset.ID(pr.ID), passwordreset.UsedAtIsNil()).
		SetUsedAt(now).Save(allow(ctx))
	if err != nil {
		return err
	}
	if n != 1 {
		return errBadReset()
	}
	return s.setPassword(ctx, client, pr.IdentityID, newHash, "identity.password_reset")
}

// setPassword stores hash for the identity, cancels its open password resets,
// revokes the sessions of all its users and records action in the audit log of
// each account it has a user in.
func (s *Service) setPassword(ctx context.Context, client *ent.Client, identityID int, hash, action string) error {
	if err := client.Identity.UpdateOneID(identityID).SetPasswordHash(hash).Exec(allow(ctx)); err != nil {
		return err
	}
	if err := client.PasswordReset.Update().
		Where(passwordreset.IdentityID(identityID), passwordreset.UsedAtIsNil()).
		SetUsedAt(s.now()).Exec(allow(ctx)); err != nil {
		return err
	}
	if err := s.revokeIdentity(ctx, client, identityID); err != nil {
		return err
	}
	users, err := client.User.Query().Where(user.IdentityID(identityID)).
		Select(user.FieldID, user.FieldAccountID).All(allow(ctx))
	if err != nil {
		return err
	}
	for _, u := range users {
		if err := audit.Record(system(ctx, u.AccountID), client, audit.Event{
			Action: action, TargetType: ent.TypeUser, TargetID: u.ID,
		}); err != nil {
			return err
		}
	}
	return nil
}
