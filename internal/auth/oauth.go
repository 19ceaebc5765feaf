package auth

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"time"

	"latchkey/ent"
	"latchkey/internal/audit"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// OAuthTokenPath is where OAuthTokenHandler is conventionally mounted.
const OAuthTokenPath = "/oauth/token"

const (
	// maxTokenRequestBytes bounds a token request's form.
	maxTokenRequestBytes = 16 << 10
	// AuditActionClientToken is the audit action recorded for each token issued
	// to an API client.
	AuditActionClientToken = "api_client.token"
)

// OAuthTokenHandler is the OAuth 2.0 token endpoint for the client-credentials
// grant (RFC 6749 §4.4). A POST with a form-encoded body, grant_type=
// client_credentials, and the client's credentials either in HTTP Basic
// authentication (client_id and secret form-encoded first, §2.3.1) or as
// client_id and client_secret form fields — not both. The answer is JSON
// {access_token, token_type: "Bearer", expires_in}; errors are JSON per §5.2:
// invalid_request and unsupported_grant_type with 400, invalid_client with 401
// and WWW-Authenticate. A scope parameter is ignored: a client has the rights of
// its roles. Each token issued is recorded in the audit log with the client as
// the actor. Rate limiting is separate: see Limiter.Middleware.
func (s *Service) OAuthTokenHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
			return
		}
		form, desc := tokenForm(r)
		if desc != "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", desc)
			return
		}
		switch gt := form.Get("grant_type"); gt {
		case "client_credentials":
		case "":
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
			return
		default:
			writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
			return
		}
		clientID, secret, status, desc := clientCredentials(r, form)
		if status == http.StatusBadRequest {
			writeOAuthError(w, status, "invalid_request", desc)
			return
		}
		if status == http.StatusUnauthorized {
			s.refuseClient(w, r, clientID, desc)
			return
		}

		c, sec, err := s.authenticateClient(ctx, clientID, secret)
		if err != nil {
			if pe, ok := errors.AsType[*problem.Error](err); ok && pe.Code == problem.Unauthenticated {
				s.refuseClient(w, r, clientID, pe.Message)
				return
			}
			s.log().ErrorContext(ctx, "oauth token failed", "err", err, "client_id", clientID)
			writeOAuthError(w, http.StatusInternalServerError, "server_error", "internal error")
			return
		}

		sctx := viewer.WithOperation(viewer.NewContext(ctx, ServiceViewer(c)), "oauth.token")
		token, exp, err := s.IssueForClient(sctx, ClientSubject{
			AccountID: c.AccountID, APIClientID: c.ID, ClientID: c.ClientID, SecretID: sec.ID,
		})
		if err == nil {
			err = s.recordClientToken(sctx, c.ID, sec.Prefix, exp)
		}
		if err != nil {
			// No token leaves without its audit record.
			s.log().ErrorContext(ctx, "oauth token failed", "err", err, "client_id", clientID)
			writeOAuthError(w, http.StatusInternalServerError, "server_error", "internal error")
			return
		}
		s.log().InfoContext(ctx, "oauth token issued", "client_id", clientID, "account", c.AccountID)
		body, _ := json.Marshal(struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresIn   int    `json:"expires_in"`
		}{token, "Bearer", int(s.ttl / time.Second)})
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		_, _ = w.Write(body)
	})
}

// recordClientToken writes the audit event for a token issued to the client in
// ctx's viewer, and notes when the client was last used, in one transaction.
func (s *Service) recordClientToken(ctx context.Context, clientID int, secretPrefix string, exp time.Time) error {
	v := viewer.FromContext(ctx)
	return inTx(ctx, s.client, func(tx *ent.Client) error {
		// The client's own event says it all: no separate record of the update.
		sys := audit.WithoutHook(viewer.System(ctx, v.AccountID, "oauth"))
		if err := tx.APIClient.UpdateOneID(clientID).SetLastUsedAt(s.now()).Exec(sys); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{
			Action:     AuditActionClientToken,
			TargetType: "APIClient",
			TargetID:   clientID,
			After: map[string]any{
				"grantType":    "client_credentials",
				"secretPrefix": secretPrefix,
				"expiresAt":    exp.UTC(),
			},
		})
	})
}

// refuseClient answers invalid_client (RFC 6749 §5.2) and logs why.
func (s *Service) refuseClient(w http.ResponseWriter, r *http.Request, clientID, reason string) {
	if len(clientID) > maxClientIDLen {
		clientID = clientID[:maxClientIDLen]
	}
	s.log().InfoContext(r.Context(), "oauth token refused", "reason", reason, "client_id", clientID,
		"remote", r.RemoteAddr)
	w.Header().Set("WWW-Authenticate", `Basic realm="latchkey", charset="UTF-8"`)
	writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
}

// tokenForm reads the request's form body, or says what is wrong with it. Only
// the body counts: credentials must not travel in the URL (RFC 6749 §2.3.1).
func tokenForm(r *http.Request) (url.Values, string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, "the body must be application/x-www-form-urlencoded"
	}
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(nil, r.Body, maxTokenRequestBytes)
	}
	if err := r.ParseForm(); err != nil {
		return nil, "the form cannot be read"
	}
	for k, vs := range r.PostForm {
		if len(vs) > 1 {
			return nil, "parameter " + url.QueryEscape(k) + " is repeated"
		}
	}
	return r.PostForm, ""
}

// clientCredentials reads the client's credentials from Basic authentication or
// the form. status is 0 when they were found, 400 for a malformed request and
// 401 when there are none, with desc saying why.
func clientCredentials(r *http.Request, form url.Values) (clientID, secret string, status int, desc string) {
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	if r.Header.Get("Authorization") != "" {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return "", "", http.StatusUnauthorized, "unsupported client authentication scheme"
		}
		id, err1 := url.QueryUnescape(user)
		sec, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return "", "", http.StatusBadRequest, "malformed Basic credentials"
		}
		if formSecret != "" {
			return "", "", http.StatusBadRequest, "use one client authentication method, not two"
		}
		if formID != "" && formID != id {
			return "", "", http.StatusBadRequest, "client_id does not match the authenticated client"
		}
		return id, sec, 0, ""
	}
	if formID == "" || formSecret == "" {
		return formID, "", http.StatusUnauthorized, "no client credentials"
	}
	return formID, formSecret, 0, ""
}

// OAuthClientKey limits token requests by the client_id they claim to be, from
// Basic authentication or the form ("" when there is none). Put it behind a
// per-address limit: anyone can name any client_id.
func OAuthClientKey(r *http.Request) string {
	id := ""
	if user, _, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(user)
	} else if form, desc := tokenForm(r); desc == "" {
		id = form.Get("client_id")
	}
	if id == "" {
		return ""
	}
	if len(id) > maxClientIDLen {
		id = id[:maxClientIDLen]
	}
	return "client:" + id
}

// OAuthTokenEndpoint is OAuthTokenHandler behind rate limits: perIP by the
// client address, then perClient by the client_id. Either may be nil.
func (s *Service) OAuthTokenEndpoint(perIP, perClient *Limiter) http.Handler {
	var h http.Handler = s.OAuthTokenHandler()
	if perClient != nil {
		h = perClient.Middleware(OAuthClientKey)(h)
	}
	if perIP != nil {
		h = perIP.Middleware(RemoteIPKey)(h)
	}
	return h
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, desc})
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
