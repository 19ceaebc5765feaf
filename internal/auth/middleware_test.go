package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"latchkey/ent"
	"latchkey/ent/user"
	"latchkey/internal/viewer"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		want   string
		ok     bool
	}{
		{"", "", false},
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"Bearer  abc ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer a b", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"Bearerabc", "", false},
		{"abc.def.ghi", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		got, ok := BearerToken(r)
		if got != tt.want || ok != tt.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMiddleware(t *testing.T) {
	ctx := context.Background()
	client, db := openStore(t)
	acct := newAccount(t, client, "acme")
	other := newAccount(t, client, "globex")
	jane := newUser(t, client, acct, "Jane", nil)
	invited := newUser(t, client, acct, "Ivan", func(c *ent.UserCreate) { c.SetStatus(user.StatusINVITED) })
	suspended := newUser(t, client, acct, "Sam", func(c *ent.UserCreate) { c.SetStatus(user.StatusSUSPENDED) })
	inactive := newUser(t, client, acct, "Ina", func(c *ent.UserCreate) { c.SetActive(false) })
	gone := newUser(t, client, acct, "Gone", nil)
	var logs bytes.Buffer
	s := newService(t, client, nil, nil, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))

	issue := func(accountID, userID int) string {
		tok, _, err := s.Issue(ctx, Subject{AccountID: accountID, UserID: userID})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	janeToken := issue(acct.ID, jane.ID)
	invitedToken := issue(acct.ID, invited.ID)
	suspendedToken := issue(acct.ID, suspended.ID)
	inactiveToken := issue(acct.ID, inactive.ID)
	goneToken := issue(acct.ID, gone.ID)
	crossToken := issue(other.ID, jane.ID) // jane's id, but in another account
	// Deleted underneath ent: the test is about the token outliving the user, not
	// about the delete workflow (and its hooks and rules, which other packages own).
	if _, err := db.ExecContext(ctx, "DELETE FROM users WHERE id = ?", gone.ID); err != nil {
		t.Fatal(err)
	}

	var seen *viewer.Viewer
	h := s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = viewer.FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))

	tests := []struct {
		name   string
		header string // Authorization; "" for none
		user   *ent.User
		reason string // when refused
	}{
		{name: "no header", reason: "missing bearer token"},
		{name: "not bearer", header: "Basic dXNlcjpwYXNz", reason: "malformed Authorization header"},
		{name: "bearer without token", header: "Bearer", reason: "malformed Authorization header"},
		{name: "two tokens", header: "Bearer " + janeToken + " " + janeToken, reason: "malformed Authorization header"},
		{name: "garbage token", header: "Bearer garbage", reason: "malformed token"},
		{name: "valid token", header: "Bearer " + janeToken, user: jane},
		{name: "lower-case scheme", header: "bearer " + janeToken, user: jane},
		{name: "invited user", header: "Bearer " + invitedToken, user: invited},
		{name: "suspended user", header: "Bearer " + suspendedToken, reason: "user is suspended"},
		{name: "inactive user", header: "Bearer " + inactiveToken, reason: "user is inactive"},
		{name: "deleted user", header: "Bearer " + goneToken, reason: "user not found"},
		{name: "user of another account", header: "Bearer " + crossToken, reason: "user not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			logs.Reset()
			r := httptest.NewRequest(http.MethodPost, "/query", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)

			if tt.user != nil {
				if rec.Code != http.StatusNoContent {
					t.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				if seen == nil || seen.AccountID != acct.ID || seen.Kind != viewer.KindUser || seen.ActorID != tt.user.ID ||
					seen.Actor != "user:"+tt.user.UserName || seen.AllData || len(seen.ViewableGroupIDs) != 0 {
					t.Errorf("viewer = %+v", seen)
				}
				return
			}
			if seen != nil {
				t.Fatal("next handler ran for a refused request")
			}
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", rec.Code)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != "Bearer" {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			var body struct {
				Errors []struct {
					Message    string
					Extensions struct{ Code string }
				}
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", rec.Body, err)
			}
			if len(body.Errors) != 1 || body.Errors[0].Extensions.Code != "UNAUTHENTICATED" ||
				!strings.Contains(body.Errors[0].Message, tt.reason) {
				t.Errorf("body %s, want UNAUTHENTICATED %q", rec.Body, tt.reason)
			}
			if !strings.Contains(logs.String(), "level=INFO") || !strings.Contains(logs.String(), tt.reason) {
				t.Errorf("log %q, want the reason at info", logs.String())
			}
			if strings.Contains(logs.String(), janeToken) {
				t.Error("the token was logged")
			}
		})
	}
}

func TestMiddlewareStoreDown(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	acct := newAccount(t, client, "acme")
	jane := newUser(t, client, acct, "Jane", nil)
	s := newService(t, client, nil, nil, WithLogger(slog.New(slog.DiscardHandler)))
	tok, _, err := s.Issue(ctx, Subject{acct.ID, jane.ID})
	if err != nil {
		t.Fatal(err)
	}
	client.Close()

	r := httptest.NewRequest(http.MethodGet, "/query", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	s.Middleware(http.NotFoundHandler()).ServeHTTP(rec, r)
	// The token may be fine: do not tell the client to drop it.
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "UNAUTHENTICATED") {
		t.Errorf("status %d, body %s; want 500 INTERNAL_SERVER_ERROR", rec.Code, rec.Body)
	}
}
