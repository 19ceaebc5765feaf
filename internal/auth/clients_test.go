package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"latchkey/ent/apiclientsecret"
	"latchkey/ent/auditevent"
	"latchkey/internal/problem"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
	"latchkey/internal/viewer"
)

func TestCreateAPIClient(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		client := st.Client
		acct := newAccount(t, client, "acme")
		other := newAccount(t, client, "globex")
		admin := viewer.System(ctx, acct.ID, "test")
		reader, err := client.Role.Create().SetName("Reader").Save(admin)
		if err != nil {
			t.Fatal(err)
		}
		writer, err := client.Role.Create().SetName("Writer").Save(admin)
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := client.Role.Create().SetName("Reader").Save(viewer.System(ctx, other.ID, "test"))
		if err != nil {
			t.Fatal(err)
		}

		c, secret, err := CreateAPIClient(admin, client, "  billing-sync ", []int{reader.ID, writer.ID, reader.ID})
		if err != nil {
			t.Fatal(err)
		}
		if c.Name != "billing-sync" || c.AccountID != acct.ID || !c.Active || !strings.HasPrefix(c.ClientID, clientIDPrefix) || len(c.ClientID) > maxClientIDLen {
			t.Errorf("client %+v", c)
		}
		// 256 random bits after a recognisable prefix.
		if !strings.HasPrefix(secret, ClientSecretPrefix) || len(secret) != len(ClientSecretPrefix)+43 {
			t.Errorf("secret %q", secret)
		}
		roles, err := c.QueryRoles().IDs(admin)
		if err != nil || len(roles) != 2 {
			t.Errorf("roles %v (%v), want Reader and Writer", roles, err)
		}
		secrets, err := client.APIClientSecret.Query().Where(apiclientsecret.APIClientID(c.ID)).All(admin)
		if err != nil || len(secrets) != 1 {
			t.Fatalf("secrets %v (%v)", secrets, err)
		}
		if s := secrets[0]; s.SecretHash != HashClientSecret(secret) || s.SecretHash == secret || s.Prefix != secret[:len(ClientSecretPrefix)+4] ||
			s.ExpiresAt != nil || s.RevokedAt != nil {
			t.Errorf("stored secret %+v", s)
		}
		// The creation is audited, without the secret or its hash.
		events, err := client.AuditEvent.Query().Where(auditevent.TargetTypeIn("APIClient", "APIClientSecret")).All(admin)
		if err != nil || len(events) != 2 {
			t.Fatalf("audit events %v (%v), want the client's and the secret's creation", events, err)
		}
		for _, e := range events {
			if strings.Contains(string(e.After), secret) || strings.Contains(string(e.After), HashClientSecret(secret)) {
				t.Errorf("audit event %s holds the secret: %s", e.Action, e.After)
			}
		}

		_, again, err := CreateAPIClient(admin, client, "other", nil)
		if err != nil || again == secret {
			t.Fatalf("second client: %v", err)
		}

		tests := []struct {
			name    string
			ctx     context.Context
			cname   string
			roleIDs []int
			code    problem.Code
		}{
			{"empty name", admin, "  ", nil, problem.BadUserInput},
			{"name taken", admin, "billing-sync", nil, problem.Conflict},
			{"role of another account", admin, "x", []int{foreign.ID}, problem.NotFound},
			{"no such role", admin, "y", []int{foreign.ID + 1000}, problem.NotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := CreateAPIClient(tt.ctx, client, tt.cname, tt.roleIDs)
				if pe, ok := errors.AsType[*problem.Error](err); !ok || pe.Code != tt.code {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
			})
		}
		// The same name is free in another account.
		if _, _, err := CreateAPIClient(viewer.System(ctx, other.ID, "test"), client, "billing-sync", []int{foreign.ID}); err != nil {
			t.Fatal(err)
		}
		// Nothing is written without a viewer.
		if _, _, err := CreateAPIClient(ctx, client, "anonymous", nil); err == nil {
			t.Fatal("created a client with no viewer")
		}
		// Inside the caller's transaction, the caller's transaction is used.
		tx, err := client.Tx(admin)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := CreateAPIClient(admin, tx.Client(), "in-tx", nil); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if n, _ := client.APIClient.Query().Count(admin); n != 2 {
			t.Errorf("%d clients after the rollback, want 2", n)
		}
	})
}
