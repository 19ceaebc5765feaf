package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"latchkey/ent/auditevent"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
	"latchkey/internal/viewer"
)

// tokenRequest is a request to the token endpoint: form fields, optionally HTTP
// Basic credentials.
type tokenRequest struct {
	method      string // POST unless set
	contentType string // form-encoded unless set
	basic       []string
	header      string // a raw Authorization header
	form        url.Values
	query       string
	remote      string
}

func (tr tokenRequest) do(h http.Handler) *httptest.ResponseRecorder {
	method := tr.method
	if method == "" {
		method = http.MethodPost
	}
	target := OAuthTokenPath
	if tr.query != "" {
		target += "?" + tr.query
	}
	r := httptest.NewRequest(method, target, strings.NewReader(tr.form.Encode()))
	ct := tr.contentType
	if ct == "" {
		ct = "application/x-www-form-urlencoded"
	}
	r.Header.Set("Content-Type", ct)
	if tr.basic != nil {
		r.SetBasicAuth(url.QueryEscape(tr.basic[0]), url.QueryEscape(tr.basic[1]))
	}
	if tr.header != "" {
		r.Header.Set("Authorization", tr.header)
	}
	if tr.remote != "" {
		r.RemoteAddr = tr.remote
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

type tokenAnswer struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func decodeAnswer(t *testing.T, rec *httptest.ResponseRecorder) tokenAnswer {
	t.Helper()
	var a tokenAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return a
}

// getToken asks the endpoint for a token with Basic credentials and fails the
// test unless it gets one.
func getToken(t *testing.T, h http.Handler, clientID, secret string) string {
	t.Helper()
	rec := tokenRequest{basic: []string{clientID, secret}, form: url.Values{"grant_type": {"client_credentials"}}}.do(h)
	if rec.Code != http.StatusOK {
		t.Fatalf("token request: status %d, body %s", rec.Code, rec.Body)
	}
	return decodeAnswer(t, rec).AccessToken
}

// tokenRefused asks for a token and fails the test unless it gets invalid_client.
func tokenRefused(t *testing.T, h http.Handler, clientID, secret string) {
	t.Helper()
	rec := tokenRequest{basic: []string{clientID, secret}, form: url.Values{"grant_type": {"client_credentials"}}}.do(h)
	if rec.Code != http.StatusUnauthorized || decodeAnswer(t, rec).Error != "invalid_client" {
		t.Fatalf("token request: status %d, body %s; want 401 invalid_client", rec.Code, rec.Body)
	}
}

// asViewer runs token through s.Middleware and returns the viewer, or the refusal.
func asViewer(t *testing.T, s *Service, token string) (*viewer.Viewer, *httptest.ResponseRecorder) {
	t.Helper()
	var seen *viewer.Viewer
	r := httptest.NewRequest(http.MethodPost, "/query", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = viewer.FromContext(r.Context())
	})).ServeHTTP(rec, r)
	return seen, rec
}

func TestOAuthClientCredentials(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		client := st.Client
		acct := newAccount(t, client, "acme")
		admin := viewer.System(ctx, acct.ID, "test")
		role, err := client.Role.Create().SetName("Reader").Save(admin)
		if err != nil {
			t.Fatal(err)
		}
		c, secret, err := CreateAPIClient(admin, client, "billing-sync", []int{role.ID})
		if err != nil {
			t.Fatal(err)
		}
		off, offSecret, err := CreateAPIClient(admin, client, "retired", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.APIClient.UpdateOne(off).SetActive(false).Exec(admin); err != nil {
			t.Fatal(err)
		}
		var logs logBuffer
		s := newService(t, client, nil, nil, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		h := s.OAuthTokenHandler()
		grant := url.Values{"grant_type": {"client_credentials"}}
		with := func(extra url.Values) url.Values {
			v := url.Values{"grant_type": {"client_credentials"}}
			for k, vs := range extra {
				v[k] = vs
			}
			return v
		}

		tests := []struct {
			name   string
			req    tokenRequest
			status int
			code   string // OAuth error; "" for a token
			reason string // logged, for invalid_client
		}{
			{name: "Basic", req: tokenRequest{basic: []string{c.ClientID, secret}, form: grant}, status: 200},
			{name: "form fields", req: tokenRequest{form: with(url.Values{"client_id": {c.ClientID}, "client_secret": {secret}})}, status: 200},
			{name: "Basic and the same client_id in the form", req: tokenRequest{basic: []string{c.ClientID, secret}, form: with(url.Values{"client_id": {c.ClientID}})}, status: 200},
			{name: "content type with charset", req: tokenRequest{contentType: "application/x-www-form-urlencoded; charset=UTF-8", basic: []string{c.ClientID, secret}, form: grant}, status: 200},
			{name: "scope is ignored", req: tokenRequest{basic: []string{c.ClientID, secret}, form: with(url.Values{"scope": {"admin"}})}, status: 200},

			{name: "wrong secret, Basic", req: tokenRequest{basic: []string{c.ClientID, offSecret}, form: grant}, status: 401, code: "invalid_client", reason: "wrong client secret"},
			{name: "wrong secret, form", req: tokenRequest{form: with(url.Values{"client_id": {c.ClientID}, "client_secret": {secret + "x"}})}, status: 401, code: "invalid_client", reason: "wrong client secret"},
			{name: "unknown client", req: tokenRequest{basic: []string{"lkc_nobody", secret}, form: grant}, status: 401, code: "invalid_client", reason: "unknown client"},
			{name: "inactive client", req: tokenRequest{basic: []string{off.ClientID, offSecret}, form: grant}, status: 401, code: "invalid_client", reason: "API client is inactive"},
			{name: "no credentials", req: tokenRequest{form: grant}, status: 401, code: "invalid_client", reason: "no client credentials"},
			{name: "client_id without a secret", req: tokenRequest{form: with(url.Values{"client_id": {c.ClientID}})}, status: 401, code: "invalid_client", reason: "no client credentials"},
			{name: "credentials in the query string", req: tokenRequest{form: grant, query: url.Values{"client_id": {c.ClientID}, "client_secret": {secret}}.Encode()}, status: 401, code: "invalid_client", reason: "no client credentials"},
			{name: "bearer instead of Basic", req: tokenRequest{header: "Bearer " + secret, form: grant}, status: 401, code: "invalid_client", reason: "unsupported client authentication scheme"},

			{name: "two authentication methods", req: tokenRequest{basic: []string{c.ClientID, secret}, form: with(url.Values{"client_secret": {secret}})}, status: 400, code: "invalid_request"},
			{name: "Basic and another client_id", req: tokenRequest{basic: []string{c.ClientID, secret}, form: with(url.Values{"client_id": {off.ClientID}})}, status: 400, code: "invalid_request"},
			{name: "unsupported grant_type", req: tokenRequest{basic: []string{c.ClientID, secret}, form: url.Values{"grant_type": {"password"}, "username": {"jane"}, "password": {"x"}}}, status: 400, code: "unsupported_grant_type"},
			{name: "no grant_type", req: tokenRequest{basic: []string{c.ClientID, secret}}, status: 400, code: "invalid_request"},
			{name: "repeated grant_type", req: tokenRequest{basic: []string{c.ClientID, secret}, form: url.Values{"grant_type": {"client_credentials", "client_credentials"}}}, status: 400, code: "invalid_request"},
			{name: "JSON body", req: tokenRequest{contentType: "application/json", basic: []string{c.ClientID, secret}, form: grant}, status: 400, code: "invalid_request"},
			{name: "GET", req: tokenRequest{method: http.MethodGet, basic: []string{c.ClientID, secret}}, status: 405, code: "invalid_request"},
		}
		issued := 0
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				logs.Reset()
				rec := tt.req.do(h)
				if rec.Code != tt.status {
					t.Fatalf("status %d, want %d; body %s", rec.Code, tt.status, rec.Body)
				}
				if got := rec.Header().Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q", got)
				}
				if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
					t.Errorf("Content-Type = %q", got)
				}
				a := decodeAnswer(t, rec)
				if tt.code != "" {
					if a.Error != tt.code || a.AccessToken != "" {
						t.Errorf("answer %+v, want error %s", a, tt.code)
					}
					if tt.status == 401 {
						if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
							t.Errorf("WWW-Authenticate = %q", got)
						}
						if l := logs.String(); !strings.Contains(l, "oauth token refused") || !strings.Contains(l, tt.reason) {
							t.Errorf("log %q does not say %q", l, tt.reason)
						}
						if strings.Contains(logs.String(), secret) {
							t.Error("the secret was logged")
						}
					}
					if tt.status == 405 && rec.Header().Get("Allow") != http.MethodPost {
						t.Errorf("Allow = %q", rec.Header().Get("Allow"))
					}
					return
				}
				issued++
				if a.TokenType != "Bearer" || a.ExpiresIn != 900 || a.AccessToken == "" || a.Error != "" {
					t.Fatalf("answer %+v", a)
				}
				// The token works through Middleware, as the client.
				v, rec := asViewer(t, s, a.AccessToken)
				if v == nil {
					t.Fatalf("middleware refused the token: %d %s", rec.Code, rec.Body)
				}
				if v.Kind != viewer.KindService || v.AccountID != acct.ID || v.ActorID != c.ID || v.Actor != "service:billing-sync" ||
					v.AllData || v.Restricted() || v.UserID() != 0 {
					t.Errorf("viewer = %+v", v)
				}
				// What it may do comes from its roles (access.LoadAuthority).
				if a, err := v.Authority(ctx); err != nil || a == nil || a.All || a.Admin {
					t.Errorf("authority %+v (%v), want the client's roles' rights", a, err)
				}
				// It is no user token.
				if _, err := s.Verify(ctx, a.AccessToken); err == nil || !strings.Contains(err.Error(), "not a user") {
					t.Errorf("Verify(service token) = %v, want refused as not a user", err)
				}
			})
		}

		// Every token issued is in the audit log, with the client as the actor.
		events, err := client.AuditEvent.Query().Where(auditevent.Action(AuditActionClientToken)).All(admin)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != issued || issued == 0 {
			t.Fatalf("%d audit events for %d tokens", len(events), issued)
		}
		for _, e := range events {
			if e.ActorKind != auditevent.ActorKindSERVICE || e.ActorID == nil || *e.ActorID != c.ID ||
				e.Actor != "service:billing-sync" || e.TargetType != "APIClient" || e.TargetID == nil || *e.TargetID != c.ID ||
				e.Operation != "oauth.token" {
				t.Errorf("audit event %+v", e)
			}
			if strings.Contains(string(e.After), secret) || !strings.Contains(string(e.After), secret[:len(ClientSecretPrefix)+4]) {
				t.Errorf("audit event after = %s", e.After)
			}
		}
		// No separate event for noting when the client was last used.
		if n, err := client.AuditEvent.Query().Where(auditevent.Action("apiclient.update"), auditevent.TargetID(c.ID)).Count(admin); err != nil || n != 0 {
			t.Errorf("%d apiclient.update events (%v), want 0", n, err)
		}
		got, err := client.APIClient.Get(admin, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastUsedAt == nil {
			t.Error("last_used_at not set")
		}
	})
}

func TestServiceTokenLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		client := st.Client
		acct := newAccount(t, client, "acme")
		other := newAccount(t, client, "globex")
		admin := viewer.System(ctx, acct.ID, "test")
		clk := newClock()
		s := newService(t, client, clk, nil, WithLogger(slog.New(slog.DiscardHandler)))
		h := s.OAuthTokenHandler()

		c, first, err := CreateAPIClient(admin, client, "sync", nil)
		if err != nil {
			t.Fatal(err)
		}
		firstToken := getToken(t, h, c.ClientID, first)

		// Rotation: the old secret keeps working for an hour, the new one at once.
		second, err := RotateAPIClientSecret(admin, client, c.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if second == first || !strings.HasPrefix(second, ClientSecretPrefix) {
			t.Fatalf("rotated secret %q", second)
		}
		getToken(t, h, c.ClientID, first)
		getToken(t, h, c.ClientID, second)
		if v, rec := asViewer(t, s, firstToken); v == nil {
			t.Fatalf("a token issued before the rotation was refused: %s", rec.Body)
		}
		// Rotating again within the hour does not extend the old secret's life.
		clk.Add(30 * time.Minute)
		third, err := RotateAPIClientSecret(admin, client, c.ID, 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(31 * time.Minute)
		tokenRefused(t, h, c.ClientID, first) // expired
		getToken(t, h, c.ClientID, second)    // until 2h after the second rotation
		getToken(t, h, c.ClientID, third)

		// Rotation without overlap revokes the old secrets at once.
		fourth, err := RotateAPIClientSecret(admin, client, c.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		tokenRefused(t, h, c.ClientID, second)
		tokenRefused(t, h, c.ClientID, third)
		fourthToken := getToken(t, h, c.ClientID, fourth)
		if v, _ := asViewer(t, s, fourthToken); v == nil || v.Kind != viewer.KindService {
			t.Fatalf("viewer %+v", v)
		}

		// Revocation ends the secret and the tokens issued with it.
		n, err := RevokeAPIClientSecrets(admin, client, c.ID)
		if err != nil || n != 1 {
			t.Fatalf("revoked %d (%v), want 1", n, err)
		}
		tokenRefused(t, h, c.ClientID, fourth)
		if v, rec := asViewer(t, s, fourthToken); v != nil || rec.Code != http.StatusUnauthorized {
			t.Fatalf("token of a revoked secret: status %d", rec.Code)
		} else if _, msg := refusal(t, rec); !strings.Contains(msg, "revoked") {
			t.Errorf("refusal %q", msg)
		}

		// A deactivated client's tokens stop working.
		fifth, err := RotateAPIClientSecret(admin, client, c.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		fifthToken := getToken(t, h, c.ClientID, fifth)
		if err := client.APIClient.UpdateOneID(c.ID).SetActive(false).Exec(admin); err != nil {
			t.Fatal(err)
		}
		if v, rec := asViewer(t, s, fifthToken); v != nil {
			t.Fatal("an inactive client's token was accepted")
		} else if _, msg := refusal(t, rec); !strings.Contains(msg, "inactive") {
			t.Errorf("refusal %q", msg)
		}

		// Service tokens expire like user tokens.
		if err := client.APIClient.UpdateOneID(c.ID).SetActive(true).Exec(admin); err != nil {
			t.Fatal(err)
		}
		if v, _ := asViewer(t, s, fifthToken); v == nil {
			t.Fatal("the token of a reactivated client was refused")
		}
		clk.Add(16 * time.Minute)
		if v, rec := asViewer(t, s, fifthToken); v != nil {
			t.Fatal("an expired service token was accepted")
		} else if _, msg := refusal(t, rec); !strings.Contains(msg, "expired") {
			t.Errorf("refusal %q", msg)
		}

		// Another account cannot see, rotate or revoke the client.
		elsewhere := viewer.System(ctx, other.ID, "test")
		if _, err := RotateAPIClientSecret(elsewhere, client, c.ID, 0); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("rotate from another account: %v", err)
		}
		if _, err := RevokeAPIClientSecrets(elsewhere, client, c.ID); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("revoke from another account: %v", err)
		}
	})
}

// TestServiceTokenForgery: a token that claims a client but is not one Latchkey
// issued gets nowhere.
func TestServiceTokenForgery(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	acct := newAccount(t, client, "acme")
	admin := viewer.System(ctx, acct.ID, "test")
	c, _, err := CreateAPIClient(admin, client, "sync", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newService(t, client, nil, nil, WithLogger(slog.New(slog.DiscardHandler)))
	good, _, err := s.IssueForClient(ctx, ClientSubject{AccountID: acct.ID, APIClientID: c.ID, ClientID: c.ClientID})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := goodClaims(s, Subject{AccountID: acct.ID, UserID: 1}, now)
	claims["sub"] = "client:" + strconv.Itoa(c.ID)
	other := newEd25519(t)
	parts := strings.Split(good, ".")

	tests := []struct {
		name, token, reason string
	}{
		{"foreign key", sign(t, current(t, s).method, other, current(t, s).kid, claims), "invalid token signature"},
		{"alg none", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+current(t, s).kid+`"}`)) + "." + parts[1] + ".", "not allowed"},
		{"tampered account", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"latchkey","aud":["latchkey"],"sub":"client:`+strconv.Itoa(c.ID)+`","acct":999,"exp":`+strconv.Itoa(int(now.Add(time.Hour).Unix()))+`}`)) + "." + parts[2], "invalid token signature"},
		{"client of another account", mustIssue(t, s, ClientSubject{AccountID: acct.ID + 1000, APIClientID: c.ID}), "API client not found"},
		{"bad client id", mustIssueClaims(t, s, "client:abc", acct.ID), "not an API client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, rec := asViewer(t, s, tt.token)
			if v != nil || rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, viewer %+v", rec.Code, v)
			}
			if _, msg := refusal(t, rec); !strings.Contains(msg, tt.reason) {
				t.Errorf("refusal %q, want %q", msg, tt.reason)
			}
		})
	}
	if v, _ := asViewer(t, s, good); v == nil || v.ActorID != c.ID {
		t.Fatalf("good token: viewer %+v", v)
	}
}

func mustIssue(t *testing.T, s *Service, sub ClientSubject) string {
	t.Helper()
	tok, _, err := s.IssueForClient(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// mustIssueClaims signs a token with s's key whose sub is given.
func mustIssueClaims(t *testing.T, s *Service, sub string, accountID int) string {
	t.Helper()
	c := goodClaims(s, Subject{AccountID: accountID, UserID: 1}, time.Now())
	c["sub"] = sub
	k := current(t, s)
	return sign(t, k.method, k.private, k.kid, c)
}
