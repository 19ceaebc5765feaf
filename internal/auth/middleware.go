package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"latchkey/ent"
	"latchkey/ent/user"
	"latchkey/internal/access"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// BearerToken returns the token of an "Authorization: Bearer <token>" header.
// The scheme is case-insensitive (RFC 7235); anything else is not a bearer token.
func BearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

// Middleware authenticates every request by its bearer token and runs next as
// the token's user. A missing or bad token, or a user who is gone, inactive or
// suspended, gets 401 with a GraphQL-shaped error; the reason is logged.
// Service tokens run next as their API client (viewer.KindService), and tokens of
// issuers configured with WithExternalIssuers as the user their claim names.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// One copy of the request, with both values: each copy is a quarter of a
		// kilobyte, and a cached check is mostly such overhead.
		ctx := access.WithCache(r.Context(), s.cache)
		v, err := s.authenticate(ctx, r)
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(viewer.NewContext(ctx, v)))
	})
}

// authenticate returns the viewer for r's bearer token, or why there is none; ctx is
// r's context with the request's cache.
func (s *Service) authenticate(ctx context.Context, r *http.Request) (*viewer.Viewer, error) {
	if r.Header.Get("Authorization") == "" {
		return nil, problem.New(problem.Unauthenticated, "", "missing bearer token")
	}
	token, ok := BearerToken(r)
	if !ok {
		return nil, problem.New(problem.Unauthenticated, "", "malformed Authorization header: want Bearer <token>")
	}
	// Latchkey's user tokens, service tokens of API clients (a ready viewer) and
	// tokens of configured external issuers (mapped to a user): see verifyBearer.
	sub, svc, err := s.verifyBearer(ctx, token)
	if err != nil {
		return nil, err
	}
	if svc != nil {
		s.attachAuthority(svc)
		return svc, nil
	}
	// The system viewer confines the lookup to the token's account.
	sys := viewer.System(ctx, sub.AccountID, "auth")
	c, err := access.Cached(sys, s.client, sub.AccountID, "caller", sub.UserID, func() (*caller, error) {
		u, err := s.client.User.Get(sys, sub.UserID)
		if err != nil {
			return nil, err
		}
		// Whose data the user may see (SPEC §2.4) is read once per account revision,
		// so every replica sees changes at once.
		vis, err := access.VisibilityOf(sys, s.client, u.ID)
		return &caller{u, vis}, err
	})
	var u *ent.User
	if c != nil {
		u = c.user
	}
	switch {
	case ent.IsNotFound(err):
		return nil, problem.New(problem.Unauthenticated, "", "user not found")
	case err != nil:
		return nil, err
	case !u.Active:
		return nil, problem.New(problem.Unauthenticated, "", "user is inactive")
	case u.Status == user.StatusSUSPENDED:
		return nil, problem.New(problem.Unauthenticated, "", "user is suspended")
	}
	vis := c.visibility
	v := &viewer.Viewer{
		AccountID:        sub.AccountID,
		Kind:             viewer.KindUser,
		ActorID:          u.ID,
		Actor:            "user:" + u.UserName,
		AllData:          vis.AllData,
		ViewableGroupIDs: vis.ViewableGroupIDs,
	}
	s.attachAuthority(v)
	return v, nil
}

// caller is what authentication reads about a user.
type caller struct {
	user       *ent.User
	visibility access.Visibility
}

// attachAuthority lets the viewer read what it may do (its rights) when a guard
// first asks, within its own account.
func (s *Service) attachAuthority(v *viewer.Viewer) {
	v.SetAuthorityLoader(func(ctx context.Context) (*viewer.Authority, error) {
		return access.LoadAuthority(viewer.System(ctx, v.AccountID, "authority"), s.client, v)
	})
}

// refuse answers 401 for a bad credential, and 500 when the server itself could
// not check it (the store is down): a client must not drop a good token for that.
func (s *Service) refuse(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := http.StatusUnauthorized, problem.Unauthenticated, ""
	if pe, ok := errors.AsType[*problem.Error](err); ok && pe.Code == problem.Unauthenticated {
		msg = pe.Message
		s.log().InfoContext(r.Context(), "authentication refused",
			"reason", msg, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", "Bearer")
	} else {
		status, code, msg = http.StatusInternalServerError, problem.Internal, "internal error"
		s.log().ErrorContext(r.Context(), "authentication failed", "err", err,
			"method", r.Method, "path", r.URL.Path)
	}
	type extensions struct {
		Code problem.Code `json:"code"`
	}
	type gqlError struct {
		Message    string     `json:"message"`
		Extensions extensions `json:"extensions"`
	}
	body, _ := json.Marshal(struct {
		Errors []gqlError `json:"errors"`
	}{[]gqlError{{Message: msg, Extensions: extensions{Code: code}}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Service) log() *slog.Logger {
	if s.logger != nil {
		return s.logger
	}
	return slog.Default()
}
