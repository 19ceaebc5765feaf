package scim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"latchkey/ent"
	"latchkey/ent/group"
	"latchkey/ent/user"
	"latchkey/graph/relayid"
	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/viewer"
	"latchkey/scim"
)

// env is the application over one store with the SCIM endpoint beside it.
type env struct {
	*apptest.Env
	gql   *apptest.Client
	boot  *app.BootstrapResult
	scim  *httptest.Server
	token string
}

func newEnv(t testing.TB, st *store.Store) *env {
	t.Helper()
	e := apptest.New(t, st, app.Config{})
	gql, boot := e.Bootstrap("acme", "admin@acme.test")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(scim.NewHandler(st.Client, e.App.Identity, log))
	t.Cleanup(srv.Close)
	return &env{Env: e, gql: gql, boot: boot, scim: srv, token: boot.ScimToken}
}

// resp is a SCIM response.
type resp struct {
	t      testing.TB
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// call sends a SCIM request (path relative to /scim/v2) with the env's token.
func (e *env) call(method, path string, body any, header ...string) *resp {
	e.T.Helper()
	return e.callWith(e.token, method, path, body, header...)
}

func (e *env) callWith(token, method, path string, body any, header ...string) *resp {
	e.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.scim.URL+"/scim/v2"+path, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := &resp{t: e.T, Status: res.StatusCode, Header: res.Header, Raw: raw}
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&out.Body); err != nil {
			e.T.Fatalf("%s %s: response is not JSON (%d): %s", method, path, res.StatusCode, raw)
		}
	}
	return out
}

// must fails the test unless the response has the status.
func (r *resp) must(status int) *resp {
	r.t.Helper()
	if r.Status != status {
		r.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

// fails checks a SCIM error response.
func (r *resp) fails(status int, scimType string) *resp {
	r.t.Helper()
	if r.Status != status {
		r.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	if r.str("status") != strconv.Itoa(status) || !has(r.List("schemas"), "urn:ietf:params:scim:api:messages:2.0:Error") {
		r.t.Fatalf("not a SCIM error body: %s", r.Raw)
	}
	if scimType != "" && r.str("scimType") != scimType {
		r.t.Fatalf("scimType %q, want %q: %s", r.str("scimType"), scimType, r.Raw)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
		r.t.Fatalf("Content-Type %q", ct)
	}
	return r
}

// Get walks a path of keys and list indexes ("emails.0.value"); a key may be a URN
// (everything up to the last ":"-free part is matched as one key first).
func (r *resp) Get(path string) any {
	return walk(r.Body, path)
}

func walk(v any, path string) any {
	cur := v
	for path != "" {
		var part string
		if m, ok := cur.(map[string]any); ok {
			// Keys may hold dots (URNs do not, but be exact first).
			found := false
			for k := range m {
				if strings.HasPrefix(path, k) && (len(path) == len(k) || path[len(k)] == '.') && len(k) > len(part) {
					part, found = k, true
				}
			}
			if !found {
				return nil
			}
			cur = m[part]
		} else if l, ok := cur.([]any); ok {
			part, _, _ = strings.Cut(path, ".")
			i, err := strconv.Atoi(part)
			if err != nil || i >= len(l) {
				return nil
			}
			cur = l[i]
		} else {
			return nil
		}
		path = strings.TrimPrefix(path[len(part):], ".")
	}
	return cur
}

func (r *resp) str(path string) string {
	switch v := r.Get(path).(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

func (r *resp) List(path string) []any {
	l, _ := r.Get(path).([]any)
	return l
}

func (r *resp) num(path string) int {
	n, _ := strconv.Atoi(r.str(path))
	return n
}

func has(list []any, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// values collects field of every element of the list at path.
func (r *resp) values(path, field string) []string {
	var out []string
	for _, el := range r.List(path) {
		out = append(out, fmt.Sprint(walk(el, field)))
	}
	return out
}

const (
	userURN       = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupURN      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	patchURN      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// patch builds a PatchOp body.
func patch(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	return map[string]any{"schemas": []string{patchURN}, "Operations": list}
}

func op(op, path string, value any) map[string]any {
	m := map[string]any{"op": op}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

// newUser is a minimal Okta-like user body.
func newUser(userName string, extra map[string]any) map[string]any {
	u := map[string]any{
		"schemas":  []string{userURN},
		"userName": userName,
		"name":     map[string]any{"givenName": "Given", "familyName": "Family"},
		"emails":   []any{map[string]any{"primary": true, "value": userName, "type": "work"}},
		"active":   true,
	}
	for k, v := range extra {
		u[k] = v
	}
	return u
}

// sys is a context acting as the system in the env's account, to read the store.
func (e *env) sys() context.Context {
	e.T.Helper()
	acct, err := relayid.Decode(e.boot.AccountID)
	if err != nil {
		e.T.Fatal(err)
	}
	return viewer.System(context.Background(), acct, "test")
}

// user reads a user by SCIM id with its groups, types and roles (nil when gone).
func (e *env) user(id string) *ent.User {
	e.T.Helper()
	n, err := relayid.Decode(id)
	if err != nil {
		e.T.Fatal(err)
	}
	u, err := e.Store.Client.User.Query().Where(user.ID(n)).WithGroups().WithTypes().WithRoles().Only(e.sys())
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		e.T.Fatal(err)
	}
	return u
}

// group reads a group by SCIM id with its members (nil when gone).
func (e *env) group(id string) *ent.Group {
	e.T.Helper()
	n, err := relayid.Decode(id)
	if err != nil {
		e.T.Fatal(err)
	}
	g, err := e.Store.Client.Group.Query().Where(group.ID(n)).WithUsers().Only(e.sys())
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		e.T.Fatal(err)
	}
	return g
}

// memberNames are the userNames of a group's members, sorted.
func (e *env) memberNames(id string) []string {
	e.T.Helper()
	g := e.group(id)
	if g == nil {
		e.T.Fatalf("group %s is gone", id)
	}
	var out []string
	for _, u := range g.Edges.Users {
		out = append(out, u.UserName)
	}
	slices.Sort(out)
	return out
}

func typeNames(u *ent.User) []string {
	var out []string
	for _, t := range u.Edges.Types {
		out = append(out, t.Name)
	}
	slices.Sort(out)
	return out
}

func roleNames(u *ent.User) []string {
	var out []string
	for _, r := range u.Edges.Roles {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return out
}

func sameStrings(a, b []string) bool {
	return slices.Equal(sorted(a...), sorted(b...))
}

func containsJSON(raw []byte, s string) bool { return strings.Contains(string(raw), s) }
