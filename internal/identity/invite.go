package identity

import (
	"context"
	"fmt"
	"html"
	"strings"
	"time"

	"latchkey/ent"
	"latchkey/ent/identity"
	"latchkey/ent/invitation"
	"latchkey/ent/user"
	"latchkey/internal/auth"
	"latchkey/internal/mail"
	"latchkey/internal/problem"
)

// Invitation kinds.
const (
	KindSetup = invitation.KindSETUP // no identity has the email: set up a password
	KindLink  = invitation.KindLINK  // an identity has it: link it with its password
)

// errBadInvitation is the one answer for an unknown, used or expired invitation.
func errBadInvitation() error {
	return problem.BadInput("token", "the invitation link is invalid, already used or expired")
}

// Invite invites u, who has no login yet, to accept their user: a LINK invitation
// when an identity has u's email (lower-cased), else a SETUP invitation. It
// replaces u's open invitation, if any, and enqueues the email carrying
// <BaseURL>/invitation?token=<token>. It returns the invitation and the token
// (which is stored only hashed; callers other than tests should drop it).
func (s *Service) Invite(ctx context.Context, client *ent.Client, u *ent.User) (*ent.Invitation, string, error) {
	if u == nil {
		return nil, "", fmt.Errorf("identity: invite: no user")
	}
	if u.IdentityID != nil {
		return nil, "", problem.New(problem.Conflict, "", "%s already has a login", u.UserName)
	}
	email := normEmail(u.Email)
	if email == "" {
		return nil, "", problem.BadInput("email", "the user has no email address to invite")
	}
	sys := system(ctx, u.AccountID)
	exists, err := client.Identity.Query().Where(identity.Email(email)).Exist(allow(ctx))
	if err != nil {
		return nil, "", err
	}
	kind := KindSetup
	if exists {
		kind = KindLink
	}
	if _, err := client.Invitation.Delete().
		Where(invitation.UserID(u.ID), invitation.AcceptedAtIsNil()).Exec(sys); err != nil {
		return nil, "", err
	}
	token, hash, err := newSecret()
	if err != nil {
		return nil, "", err
	}
	inv, err := client.Invitation.Create().
		SetUserID(u.ID).
		SetKind(kind).
		SetEmail(email).
		SetTokenHash(hash).
		SetExpiresAt(s.now().Add(s.cfg.InvitationTTL)).
		Save(sys)
	if err != nil {
		return nil, "", err
	}
	acct, err := client.Account.Get(sys, u.AccountID)
	if err != nil {
		return nil, "", err
	}
	msg := invitationMail(u, acct.Name, kind, s.link("/invitation", token), inv.ExpiresAt)
	if err := mail.Enqueue(ctx, client, msg); err != nil {
		return nil, "", err
	}
	return inv, token, nil
}

// invitationMail is the email of an invitation.
func invitationMail(u *ent.User, account string, kind invitation.Kind, link string, expires time.Time) mail.Message {
	name := u.DisplayName
	if name == "" {
		name = strings.TrimSpace(u.GivenName + " " + u.FamilyName)
	}
	if name == "" {
		name = u.Email
	}
	when := expires.UTC().Format("Mon, 2 Jan 2006 15:04 MST")
	var subject, intro, action, button string
	if kind == KindLink {
		subject = fmt.Sprintf("You have been added to %s on Latchkey", account)
		intro = fmt.Sprintf("You have been added to %s on Latchkey as %s.", account, u.UserName)
		action = fmt.Sprintf("You already have a Latchkey login for %s. To link %s to it, open this link and confirm with your existing password:", strings.ToLower(u.Email), account)
		button = "Link your login"
	} else {
		subject = fmt.Sprintf("You are invited to %s on Latchkey", account)
		intro = fmt.Sprintf("You have been invited to %s on Latchkey as %s.", account, u.UserName)
		action = "To set up your password and sign in, open this link:"
		button = "Set up your password"
	}
	outro := fmt.Sprintf("The link works once and expires on %s. If you did not expect this email, you can ignore it.", when)
	text := fmt.Sprintf("Hello %s,\n\n%s\n\n%s\n%s\n\n%s\n", name, intro, action, link, outro)
	e := html.EscapeString
	htmlBody := fmt.Sprintf(`<!DOCTYPE html><html><body>
<p>Hello %s,</p>
<p>%s</p>
<p>%s</p>
<p><a href="%s">%s</a></p>
<p>%s</p>
</body></html>
`, e(name), e(intro), e(action), e(link), e(button), e(outro))
	return mail.Message{To: u.Email, Subject: subject, Text: text, HTML: htmlBody}
}

// AcceptInvitation accepts the invitation with token: for SETUP it creates the
// identity with password (the password policy is auth.HashPassword's); for LINK
// password must be the existing identity's, so that one password opens every
// account. The user is linked to the identity and becomes ACTIVE; the invitation
// is used up. An unknown, used or expired token is BAD_USER_INPUT on "token" (one
// message for all three). It returns the user.
func (s *Service) AcceptInvitation(ctx context.Context, client *ent.Client, token, password string) (*ent.User, error) {
	if token == "" || len(token) > maxTokenLen {
		return nil, errBadInvitation()
	}
	now := s.now()
	inv, err := client.Invitation.Query().Where(invitation.TokenHash(hashSecret(token))).Only(allow(ctx))
	switch {
	case notFound(err):
		return nil, errBadInvitation()
	case err != nil:
		return nil, err
	case inv.AcceptedAt != nil || !now.Before(inv.ExpiresAt):
		return nil, errBadInvitation()
	}
	sys := system(ctx, inv.AccountID)
	u, err := client.User.Get(sys, inv.UserID)
	switch {
	case notFound(err):
		return nil, errBadInvitation()
	case err != nil:
		return nil, err
	case u.IdentityID != nil || u.Status == user.StatusSUSPENDED || normEmail(u.Email) != inv.Email:
		// Linked by other means since, suspended, or the user's email changed (the
		// link went to the old address): the invitation is moot.
		return nil, errBadInvitation()
	}
	// The identity is looked up now, whatever the invitation's kind: one may have
	// been set up (through another account's invitation) since this one was sent,
	// and then its password is needed — a SETUP link never overwrites it. The
	// password is checked before anything is written.
	idn, err := client.Identity.Query().Where(identity.Email(inv.Email)).Only(allow(ctx))
	var newHash string // set when the identity gets this password
	switch {
	case notFound(err):
		idn = nil
		if newHash, err = auth.HashPassword(password); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case idn.PasswordHash == "":
		if newHash, err = auth.HashPassword(password); err != nil {
			return nil, err
		}
	default:
		ok, rehash := checkPassword(idn.PasswordHash, password)
		if !ok {
			return nil, problem.BadInput("password", "a Latchkey login already exists for %s: enter its password to link this account", inv.Email)
		}
		if rehash {
			newHash = upgradedHash(password, idn.PasswordHash)
		}
	}
	// Use the invitation up: of two concurrent acceptances, one wins.
	n, err := client.Invitation.Update().
		Where(invitation.ID(inv.ID), invitation.AcceptedAtIsNil()).
		SetAcceptedAt(now).Save(sys)
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, errBadInvitation()
	}
	switch {
	case idn == nil:
		if idn, err = client.Identity.Create().SetEmail(inv.Email).SetPasswordHash(newHash).Save(allow(ctx)); err != nil {
			return nil, err
		}
	case newHash != "" && newHash != idn.PasswordHash:
		if err := client.Identity.UpdateOne(idn).SetPasswordHash(newHash).Exec(allow(ctx)); err != nil {
			return nil, err
		}
	}
	return client.User.UpdateOneID(u.ID).
		SetIdentityID(idn.ID).
		SetStatus(user.StatusACTIVE).
		Save(sys)
}

// upgradedHash is an argon2id hash of password to replace an imported (bcrypt)
// hash, or old itself when the password does not meet today's policy.
func upgradedHash(password, old string) string {
	hash, err := auth.HashPassword(password)
	if err != nil {
		return old
	}
	return hash
}
