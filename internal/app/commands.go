package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	gen "latchkey/ent"
	"latchkey/ent/account"
	"latchkey/ent/identity"
	"latchkey/ent/privacy"
	"latchkey/ent/role"
	"latchkey/ent/user"
	"latchkey/graph/relayid"
	"latchkey/internal/access"
	"latchkey/internal/admin"
	"latchkey/internal/auth"
	"latchkey/internal/problem"
	"latchkey/internal/store"
	"latchkey/internal/viewer"
)

func openMigrated(ctx context.Context, cfg Config, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.Database, store.WithLogger(log))
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrating: %w", err)
	}
	return st, nil
}

// withServer opens the migrated store and wires the server for a command.
func withServer(ctx context.Context, cfg Config, run func(*store.Store, *Server) error) error {
	log := newLogger(cfg)
	st, err := openMigrated(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := NewServer(cfg, st, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	return run(st, srv)
}

// Migrate brings the schema up to date.
func Migrate(ctx context.Context, cfg Config, stdout io.Writer) error {
	st, err := openMigrated(ctx, cfg, newLogger(cfg))
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintln(stdout, "database schema is up to date")
	return nil
}

type bootstrapArgs struct{ Account, Email, Password string }

// BootstrapResult is what bootstrap prints.
type BootstrapResult struct {
	AccountID   string    `json:"accountId"`
	UserID      string    `json:"userId"`
	AccessToken string    `json:"accessToken"`
	ExpiresAt   time.Time `json:"expiresAt"`
	// ScimToken is the account's first SCIM bearer token (shown only here).
	ScimToken string `json:"scimToken"`
}

// Bootstrap creates an account with its first Admin (in one transaction) and prints
// an access token for them.
func Bootstrap(ctx context.Context, cfg Config, args bootstrapArgs, stdout io.Writer) error {
	return withServer(ctx, cfg, func(st *store.Store, srv *Server) error {
		res, err := BootstrapAccount(ctx, st, srv.Auth, args.Account, args.Email, args.Password)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	})
}

// BootstrapAccount creates the account and its Admin and issues the Admin a token.
// With a password, the Admin's identity (login) is created too and they are ACTIVE;
// without one they stay INVITED until they accept an invitation.
func BootstrapAccount(ctx context.Context, st *store.Store, authn *auth.Service, accountName, email, password string) (*BootstrapResult, error) {
	var hash string
	if password != "" {
		var err error
		if hash, err = auth.HashPassword(password); err != nil {
			return nil, err
		}
	}
	tx, err := st.Client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	acct, sys, err := access.CreateAccount(ctx, tx.Client(), accountName)
	if err != nil {
		return nil, rollback(tx, err)
	}
	admn, err := admin.CreateUser(sys, tx.Client(), admin.CreateUserInput{UserName: strings.TrimSpace(email), Email: strings.TrimSpace(email)})
	if err != nil {
		return nil, rollback(tx, describe(err))
	}
	adminRole, err := tx.Client().Role.Query().Where(role.BuiltIn(true), role.Name(access.AdminRole)).OnlyID(sys)
	if err != nil {
		return nil, rollback(tx, err)
	}
	if err := access.ApplyRole(sys, tx.Client(), adminRole, admn.ID); err != nil {
		return nil, rollback(tx, err)
	}
	if hash != "" {
		if err := setLogin(ctx, tx.Client(), sys, admn, hash); err != nil {
			return nil, rollback(tx, err)
		}
	}
	scim, _, err := auth.NewSCIMToken(sys, tx.Client(), "bootstrap")
	if err != nil {
		return nil, rollback(tx, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	token, exp, err := authn.Issue(ctx, auth.Subject{AccountID: acct.ID, UserID: admn.ID})
	if err != nil {
		return nil, err
	}
	return &BootstrapResult{AccountID: relayid.Encode(acct.ID), UserID: relayid.Encode(admn.ID), AccessToken: token, ExpiresAt: exp, ScimToken: scim}, nil
}

// setLogin gives u a login: the identity for their email (created when new) with
// the password hash, linked to u, who becomes ACTIVE.
func setLogin(ctx context.Context, client *gen.Client, sys context.Context, u *gen.User, hash string) error {
	allow := privacy.DecisionContext(ctx, privacy.Allow) // identities are global, not the account's
	email := strings.ToLower(u.Email)
	id, err := client.Identity.Query().Where(identity.Email(email)).OnlyID(allow)
	switch {
	case gen.IsNotFound(err):
		created, err := client.Identity.Create().SetEmail(email).SetPasswordHash(hash).Save(allow)
		if err != nil {
			return err
		}
		id = created.ID
	case err != nil:
		return err
	default:
		if err := client.Identity.UpdateOneID(id).SetPasswordHash(hash).Exec(allow); err != nil {
			return err
		}
	}
	return client.User.UpdateOne(u).SetIdentityID(id).SetStatus(user.StatusACTIVE).Exec(sys)
}

type tokenArgs struct{ Account, Email string }

// Token prints a fresh access token for the user with email in the named account.
func Token(ctx context.Context, cfg Config, args tokenArgs, stdout io.Writer) error {
	return withServer(ctx, cfg, func(st *store.Store, srv *Server) error {
		acct, err := st.Client.Account.Query().Where(account.Name(args.Account)).Only(privacy.DecisionContext(ctx, privacy.Allow))
		if err != nil {
			return fmt.Errorf("account %q: %w", args.Account, describe(err))
		}
		sys := viewer.System(ctx, acct.ID, "token")
		u, err := st.Client.User.Query().Where(user.EmailEqualFold(args.Email)).First(sys)
		if err != nil {
			return fmt.Errorf("user %q in account %q: %w", args.Email, args.Account, describe(err))
		}
		token, _, err := srv.Auth.Issue(ctx, auth.Subject{AccountID: acct.ID, UserID: u.ID})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, token)
		return nil
	})
}

func rollback(tx *gen.Tx, err error) error {
	_ = tx.Rollback()
	return err
}

// describe turns store errors into their client-facing message for the terminal.
func describe(err error) error {
	p := problem.From(err)
	if p.Code == problem.Internal {
		return err
	}
	return p
}

// RotateKeys makes a new signing key current (SPEC §4): tokens signed with the old
// ones stay valid, and their keys stay in the JWKS, until those tokens expire.
func RotateKeys(ctx context.Context, cfg Config, stdout io.Writer) error {
	return withServer(ctx, cfg, func(_ *store.Store, srv *Server) error {
		kid, err := srv.Keys.Rotate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, kid)
		return nil
	})
}
