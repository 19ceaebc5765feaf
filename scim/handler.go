// Package scim is the SCIM 2.0 endpoint (RFC 7643/7644) identity providers such as
// Okta and Microsoft Entra ID provision users and groups through. It is a thin
// adapter: it authenticates the account's SCIM token, reads what the provider sends
// in its dialect, and calls the domain (internal/admin, internal/access,
// internal/identity), each request in one transaction.
//
// github.com/elimity-com/scim serves the discovery endpoints (/Schemas,
// /ResourceTypes), routes GET by id, POST, PUT and DELETE of Users and Groups to
// this package's handlers and writes its error bodies. Lists and searches (the
// filter translated to SQL, sorting, attribute selection), PATCH (applied here) and
// /ServiceProviderConfig (which must say that sorting and ETags are supported) are
// served by this package.
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	elscim "github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"

	gen "latchkey/ent"
	"latchkey/ent/privacy"
	"latchkey/ent/scimtoken"
	"latchkey/internal/audit"
	"latchkey/internal/auth"
	"latchkey/internal/identity"
	"latchkey/internal/viewer"
)

// Prefix is where the endpoint is served.
const Prefix = "/scim/v2"

// maxBody bounds a request body (the server's own limit usually applies first).
const maxBody = 8 << 20

// Handler serves SCIM under Prefix.
type Handler struct {
	client   *gen.Client
	identity *identity.Service
	log      *slog.Logger
	types    []elscim.ResourceType
	spc      elscim.ServiceProviderConfig
}

// NewHandler returns the SCIM endpoint over client. identity ends a deactivated
// user's sessions (nil: sessions are left to expire).
func NewHandler(client *gen.Client, identity *identity.Service, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	h := &Handler{client: client, identity: identity, log: logger,
		spc: elscim.ServiceProviderConfig{SupportFiltering: true, SupportPatch: true, MaxResults: maxResults}}
	h.types = []elscim.ResourceType{
		{
			ID: optional.NewString("User"), Name: "User", Endpoint: "/Users",
			Description: optional.NewString("People in the account"),
			Schema:      userSchema, SchemaExtensions: []elscim.SchemaExtension{{Schema: enterpriseSchema}},
			Handler: resourceHandler{h: h, k: userKind},
		},
		{
			ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups",
			Description: optional.NewString("Groups of users"),
			Schema:      groupSchema,
			Handler:     resourceHandler{h: h, k: groupKind},
		},
	}
	return h
}

// request is one request's state: its transaction and where it was addressed.
type request struct {
	h    *Handler
	c    *gen.Client // the request's transaction (a write's) or the pool (a read's)
	base string      // the absolute URL of the endpoint, e.g. https://host/scim/v2
	body document    // a POST or PUT body, read and coerced
}

type requestKey struct{}

func requestFrom(ctx context.Context) *request {
	rq, _ := ctx.Value(requestKey{}).(*request)
	return rq
}

// route is a request's target, with the path normalised: resource names are
// matched case-insensitively (/users) and trailing slashes dropped.
type route struct {
	endpoint string // "/Users", "/Groups", "/Schemas", "/ResourceTypes", "/ServiceProviderConfig"
	k        *kind  // for /Users and /Groups
	id       string
	search   bool
}

func parseRoute(path string) (route, bool) {
	if len(path) >= len(Prefix) && strings.EqualFold(path[:len(Prefix)], Prefix) {
		path = path[len(Prefix):]
	}
	path = strings.Trim(path, "/")
	parts := strings.SplitN(path, "/", 2)
	var rt route
	switch strings.ToLower(parts[0]) {
	case "users":
		rt.endpoint, rt.k = "/Users", userKind
	case "groups":
		rt.endpoint, rt.k = "/Groups", groupKind
	case "schemas":
		rt.endpoint = "/Schemas"
	case "resourcetypes":
		rt.endpoint = "/ResourceTypes"
	case "serviceproviderconfig", "serviceproviderconfigs":
		rt.endpoint = "/ServiceProviderConfig"
	default:
		return rt, false
	}
	if len(parts) == 2 {
		rest := strings.Trim(parts[1], "/")
		if rt.k != nil && strings.Contains(rest, "/") {
			return rt, false
		}
		if strings.EqualFold(rest, ".search") {
			rt.search = rt.k != nil
			return rt, rt.search
		}
		id, err := url.PathUnescape(rest)
		if err != nil || id == "" {
			return rt, false
		}
		rt.id = id
	}
	return rt, true
}

// baseURL is the endpoint's absolute URL as the client addressed it (behind a
// proxy: X-Forwarded-Proto and X-Forwarded-Host).
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := firstHeaderValue(r, "X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if h := firstHeaderValue(r, "X-Forwarded-Host"); h != "" && !strings.ContainsAny(h, "/\\ @") {
		host = h
	}
	return scheme + "://" + host + Prefix
}

func firstHeaderValue(r *http.Request, name string) string {
	v, _, _ := strings.Cut(r.Header.Get(name), ",")
	return strings.ToLower(strings.TrimSpace(v))
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := parseRoute(r.URL.Path)
	if !ok {
		writeError(w, scimerr.ScimError{Status: http.StatusNotFound, Detail: "no such SCIM endpoint: " + r.URL.Path})
		return
	}
	v, err := h.authenticate(r)
	if err != nil {
		se, internal := toScim(rt.k, err)
		if internal {
			h.log.ErrorContext(r.Context(), "scim authentication failed", "err", err)
		} else {
			h.log.InfoContext(r.Context(), "scim authentication refused", "reason", se.Detail, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="scim"`)
		}
		writeError(w, se)
		return
	}
	ctx := viewer.NewContext(r.Context(), v)
	ctx = viewer.WithOperation(ctx, "scim "+r.Method+" "+rt.endpoint)
	// A write is one transaction. A read runs its few statements outside any
	// transaction: on MySQL its BEGIN and COMMIT are two more round trips (a lookup
	// by userName took five statements, now two), and on SQLite a writing
	// transaction would queue lookups behind each other. The parts of a read's answer (a
	// page and its total, a user and its groups) may then come from commits a
	// moment apart, as each part of a paged list already may (RFC 7644 §3.4.2.4).
	c := h.client
	var tx *gen.Tx
	if r.Method != http.MethodGet && !rt.search {
		if tx, err = h.client.Tx(ctx); err != nil {
			h.log.ErrorContext(ctx, "scim: opening a transaction", "err", err)
			writeError(w, scimerr.ScimErrorInternal)
			return
		}
		c, ctx = tx.Client(), gen.NewTxContext(ctx, tx)
	}
	rq := &request{h: h, c: c, base: baseURL(r)}
	ctx = context.WithValue(ctx, requestKey{}, rq)
	buf := &bufferedResponse{header: http.Header{}}
	func() {
		defer func() {
			if p := recover(); p != nil {
				h.log.ErrorContext(ctx, "scim panic", "panic", fmt.Sprint(p), "method", r.Method, "path", r.URL.Path)
				buf.reset()
				writeError(buf, scimerr.ScimErrorInternal)
			}
		}()
		h.dispatch(buf, r.WithContext(ctx), rt, rq)
	}()
	if buf.status == 0 {
		buf.status = http.StatusOK
	}
	switch {
	case tx == nil:
	case buf.status >= 400:
		_ = tx.Rollback()
	default:
		if err := tx.Commit(); err != nil {
			h.log.ErrorContext(ctx, "scim: commit failed", "err", err)
			se, _ := toScim(rt.k, err)
			buf.reset()
			writeError(buf, se)
		}
	}
	buf.writeTo(w)
}

// authenticate finds the account's SCIM token by its hash (before there is a viewer,
// so under an Allow decision) and returns the SCIM client as the viewer.
func (h *Handler) authenticate(r *http.Request) (*viewer.Viewer, error) {
	secret, ok := auth.BearerToken(r)
	if !ok {
		return nil, unauthorized("send the account's SCIM token: Authorization: Bearer <token>")
	}
	ctx := r.Context()
	allow := privacy.DecisionContext(ctx, privacy.Allow)
	// Only what authentication needs: every SCIM request reads its token.
	t, err := h.client.ScimToken.Query().Where(scimtoken.SecretHash(auth.HashSCIMToken(secret))).
		Select(scimtoken.FieldAccountID, scimtoken.FieldName, scimtoken.FieldLastUsedAt, scimtoken.FieldRevokedAt).Only(allow)
	switch {
	case gen.IsNotFound(err):
		return nil, unauthorized("the SCIM token is not valid")
	case err != nil:
		return nil, err
	case t.RevokedAt != nil:
		return nil, unauthorized("the SCIM token has been revoked")
	}
	// Last use is kept to the minute, outside the request's transaction, and not in
	// the audit log: it is bookkeeping, not a change anyone made.
	if now := time.Now(); t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
		sys := audit.WithoutHook(viewer.System(ctx, t.AccountID, "scim token use"))
		if err := h.client.ScimToken.UpdateOneID(t.ID).SetLastUsedAt(now).Exec(sys); err != nil {
			h.log.WarnContext(ctx, "scim: recording token use", "err", err)
		}
	}
	return &viewer.Viewer{AccountID: t.AccountID, Kind: viewer.KindSCIM, ActorID: t.ID, Actor: "scim:" + t.Name}, nil
}

func (h *Handler) dispatch(w http.ResponseWriter, r *http.Request, rt route, rq *request) {
	switch rt.endpoint {
	case "/ServiceProviderConfig":
		if r.Method != http.MethodGet {
			writeError(w, methodNotAllowed(r))
			return
		}
		writeJSON(w, http.StatusOK, serviceProviderConfig(rq.base))
		return
	case "/Schemas", "/ResourceTypes":
		if r.Method != http.MethodGet {
			writeError(w, methodNotAllowed(r))
			return
		}
		h.library(w, r, rt.endpoint, h.canonicalID(rt))
		return
	}
	switch {
	case rt.search:
		if r.Method != http.MethodPost {
			writeError(w, methodNotAllowed(r))
			return
		}
		body, err := readBody(r)
		if err == nil {
			var p listParams
			if p, err = listParamsFromSearch(body); err == nil {
				h.serveList(w, r, rt.k, p)
				return
			}
		}
		h.fail(w, r, rt.k, err)
	case rt.id == "" && r.Method == http.MethodGet:
		p, err := listParamsFromQuery(r.URL.Query())
		if err != nil {
			h.fail(w, r, rt.k, err)
			return
		}
		h.serveList(w, r, rt.k, p)
	case rt.id == "" && r.Method == http.MethodPost, rt.id != "" && r.Method == http.MethodPut:
		if err := h.readResourceBody(r, rt.k, rq); err != nil {
			h.fail(w, r, rt.k, err)
			return
		}
		h.library(w, r, rt.endpoint, rt.id)
	case rt.id != "" && r.Method == http.MethodGet && r.Header.Get("If-None-Match") != "":
		version, err := rq.version(r.Context(), rt.k, rt.id)
		if err != nil {
			h.fail(w, r, rt.k, err)
			return
		}
		if checkIfMatch(headerAs(r, "If-None-Match", "If-Match"), version) == nil {
			w.Header().Set("ETag", version)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.library(w, r, rt.endpoint, rt.id)
	case rt.id != "" && (r.Method == http.MethodGet || r.Method == http.MethodDelete):
		h.library(w, r, rt.endpoint, rt.id)
	case rt.id != "" && r.Method == http.MethodPatch:
		h.servePatch(w, r, rt, rq)
	default:
		writeError(w, methodNotAllowed(r))
	}
}

// library serves the request with the library's server, on the canonical path.
func (h *Handler) library(w http.ResponseWriter, r *http.Request, endpoint, id string) {
	rq := requestFrom(r.Context())
	srv, err := elscim.NewServer(&elscim.ServerArgs{ServiceProviderConfig: &h.spc, ResourceTypes: h.types},
		elscim.WithBaseURL(rq.base), elscim.WithLogger(libraryLogger{h.log}))
	if err != nil {
		h.fail(w, r, nil, err)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = endpoint, ""
	if id != "" {
		r2.URL.Path += "/" + id
		r2.URL.RawPath = endpoint + "/" + url.PathEscape(id)
	}
	srv.ServeHTTP(w, r2)
}

// canonicalID spells a /Schemas or /ResourceTypes id as the library expects.
func (h *Handler) canonicalID(rt route) string {
	if rt.id == "" {
		return ""
	}
	for _, t := range h.types {
		if rt.endpoint == "/ResourceTypes" && strings.EqualFold(t.Name, rt.id) {
			return t.Name
		}
		if rt.endpoint == "/Schemas" {
			if strings.EqualFold(t.Schema.ID, rt.id) {
				return t.Schema.ID
			}
			for _, e := range t.SchemaExtensions {
				if strings.EqualFold(e.Schema.ID, rt.id) {
					return e.Schema.ID
				}
			}
		}
	}
	return rt.id
}

type libraryLogger struct{ log *slog.Logger }

func (l libraryLogger) Error(args ...any) { l.log.Error("scim library", "detail", fmt.Sprint(args...)) }

// readResourceBody reads a POST or PUT body into a document, with errors that name
// the attribute, and hands the library a body it will accept.
func (h *Handler) readResourceBody(r *http.Request, k *kind, rq *request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil || body == nil {
		return invalidSyntax("the body is not a JSON object")
	}
	if !hasSchema(body, k.core.ID) {
		return invalidSyntax("schemas must include %q", k.core.ID)
	}
	d, err := coerceBody(k, body)
	if err != nil {
		return err
	}
	required := "userName"
	if k == groupKind {
		required = "displayName"
	}
	if s, _ := d[required].(string); strings.TrimSpace(s) == "" {
		return invalidValue(required, "is required")
	}
	rq.body = d
	out := map[string]any{"schemas": k.schemaURNs()}
	for key, v := range d {
		out[key] = v
	}
	clean, err := json.Marshal(out)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(clean))
	r.ContentLength = int64(len(clean))
	return nil
}

func hasSchema(body map[string]any, urn string) bool {
	for k, v := range body {
		if !strings.EqualFold(k, "schemas") {
			continue
		}
		list, _ := v.([]any)
		for _, s := range list {
			if str, _ := s.(string); strings.EqualFold(str, urn) {
				return true
			}
		}
	}
	return false
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, invalidSyntax("the request has no body")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, invalidSyntax("the body could not be read")
	}
	if len(body) > maxBody {
		return nil, scimerr.ScimError{Status: http.StatusRequestEntityTooLarge, Detail: "the body is too large"}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

func (h *Handler) serveList(w http.ResponseWriter, r *http.Request, k *kind, p listParams) {
	rq := requestFrom(r.Context())
	out, err := rq.list(r.Context(), k, p)
	if err != nil {
		h.fail(w, r, k, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// servePatch applies a PATCH request and answers 200 with the resource, or 204 when
// the request asks for nothing back (an empty attributes parameter or
// Prefer: return=minimal).
func (h *Handler) servePatch(w http.ResponseWriter, r *http.Request, rt route, rq *request) {
	ctx := r.Context()
	body, err := readBody(r)
	if err != nil {
		h.fail(w, r, rt.k, err)
		return
	}
	ops, err := parsePatch(body)
	if err != nil {
		h.fail(w, r, rt.k, err)
		return
	}
	q := r.URL.Query()
	proj := newProjection(rt.k, queryList(q, "attributes"), queryList(q, "excludedAttributes"))
	attrs, asked := queryParam(q, "attributes")
	minimal := (asked && strings.TrimSpace(attrs) == "") ||
		strings.Contains(strings.ToLower(r.Header.Get("Prefer")), "return=minimal")
	var res resource
	if rt.k == userKind {
		u, err := rq.loadUser(ctx, rt.id, false)
		if err == nil {
			err = checkIfMatch(r, etag(u.UpdatedAt))
		}
		if err == nil {
			u, err = rq.patchUser(ctx, u, ops)
		}
		if err == nil && !minimal {
			u, err = rq.loadUser(ctx, rt.id, proj.wants(userKind, "groups"))
		}
		if err != nil {
			h.fail(w, r, rt.k, err)
			return
		}
		res = userResource(rq.base, u, u.Edges.Groups)
	} else {
		g, err := rq.loadGroup(ctx, rt.id, false)
		if err == nil {
			err = checkIfMatch(r, etag(g.UpdatedAt))
		}
		if err == nil {
			g, err = rq.patchGroup(ctx, g, ops)
		}
		if err == nil && !minimal {
			g, err = rq.loadGroup(ctx, rt.id, proj.wants(groupKind, "members"))
		}
		if err != nil {
			h.fail(w, r, rt.k, err)
			return
		}
		res = groupResource(rq.base, g, g.Edges.Users)
	}
	w.Header().Set("ETag", res.version())
	if minimal {
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Location", location(rq.base, rt.k, res.id))
	writeJSON(w, http.StatusOK, res.render(rq.base, rt.k, proj))
}

// headerAs returns a request whose header as carries r's header from.
func headerAs(r *http.Request, from, as string) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Header.Set(as, r.Header.Get(from))
	return r2
}

// version is the current version (ETag) of a user or group.
func (rq *request) version(ctx context.Context, k *kind, id string) (string, error) {
	if k == userKind {
		u, err := rq.loadUser(ctx, id, false)
		if err != nil {
			return "", err
		}
		return etag(u.UpdatedAt), nil
	}
	g, err := rq.loadGroup(ctx, id, false)
	if err != nil {
		return "", err
	}
	return etag(g.UpdatedAt), nil
}

// checkIfMatch answers 412 when the request's If-Match names another version.
func checkIfMatch(r *http.Request, current string) error {
	header := strings.TrimSpace(r.Header.Get("If-Match"))
	if header == "" {
		return nil
	}
	want := strings.TrimPrefix(current, "W/")
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
			return nil
		}
	}
	return preconditionFailed(current)
}

// fail answers with the SCIM error for err, logging errors that are the server's.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, k *kind, err error) {
	se, internal := toScim(k, err)
	if internal {
		h.log.ErrorContext(r.Context(), "scim request failed", "err", err, "method", r.Method, "path", r.URL.Path,
			"request_id", viewer.RequestID(r.Context()))
	}
	writeError(w, se)
}

func methodNotAllowed(r *http.Request) scimerr.ScimError {
	return scimerr.ScimError{Status: http.StatusMethodNotAllowed, Detail: r.Method + " is not supported here"}
}

func writeError(w http.ResponseWriter, se scimerr.ScimError) {
	if se.Status == 0 {
		se.Status = http.StatusInternalServerError
	}
	body, _ := json.Marshal(se)
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(se.Status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, scimerr.ScimErrorInternal)
		return
	}
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// bufferedResponse holds a response until the transaction is committed, so that a
// client is never told of a change that did not happen.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedResponse) reset() {
	b.header, b.status = http.Header{}, 0
	b.body.Reset()
}

func (b *bufferedResponse) writeTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
