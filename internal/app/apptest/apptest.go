// Package apptest runs the real HTTP handler over a test store and speaks GraphQL to
// it, for end-to-end tests of every workflow.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"latchkey/graph/relayid"
	"latchkey/internal/app"
	"latchkey/internal/auth"
	"latchkey/internal/store"
)

// Env is a running server over one store.
type Env struct {
	T      testing.TB
	Store  *store.Store
	App    *app.Server
	Server *httptest.Server
}

// New serves the application over st until the test ends. cfg may be zero.
func New(t testing.TB, st *store.Store, cfg app.Config) *Env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.NewServer(cfg, st, log)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return &Env{T: t, Store: st, App: a, Server: srv}
}

// Bootstrap creates an account with its first Admin and returns a client acting as them.
func (e *Env) Bootstrap(account, email string) (*Client, *app.BootstrapResult) {
	e.T.Helper()
	res, err := app.BootstrapAccount(context.Background(), e.Store, e.App.Auth, account, email, "")
	if err != nil {
		e.T.Fatalf("bootstrap %s: %v", account, err)
	}
	return e.Client(res.AccessToken), res
}

// Token issues an access token for any user of any account (opaque ids as the API
// shows them), signed like the server's own tokens: for tests of who a token may
// act as.
func (e *Env) Token(accountID, userID string) string {
	e.T.Helper()
	acct, err := relayid.Decode(accountID)
	if err != nil {
		e.T.Fatalf("account id %q: %v", accountID, err)
	}
	usr, err := relayid.Decode(userID)
	if err != nil {
		e.T.Fatalf("user id %q: %v", userID, err)
	}
	token, _, err := e.App.Auth.Issue(context.Background(), auth.Subject{AccountID: acct, UserID: usr})
	if err != nil {
		e.T.Fatalf("issuing a token: %v", err)
	}
	return token
}

// Get sends a GET for path (such as "/healthz") with the extra header and returns
// the response with its body read.
func (e *Env) Get(path string, header http.Header) (*http.Response, []byte) {
	e.T.Helper()
	req, err := http.NewRequest(http.MethodGet, e.Server.URL+path, nil)
	if err != nil {
		e.T.Fatalf("GET %s: %v", path, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatalf("GET %s: reading body: %v", path, err)
	}
	return resp, body
}

// Client returns a GraphQL client sending token (none when empty).
func (e *Env) Client(token string) *Client {
	return &Client{env: e, Token: token}
}

// Client posts GraphQL requests with a bearer token.
type Client struct {
	env   *Env
	Token string
}

// Response is a GraphQL response.
type Response struct {
	Status int
	Data   map[string]any
	Errors []Error
	Header http.Header
	Raw    []byte // the response body as received
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is the error's extensions.code.
func (e Error) Code() string { c, _ := e.Extensions["code"].(string); return c }

// Field is the error's extensions.field.
func (e Error) Field() string { f, _ := e.Extensions["field"].(string); return f }

// Do posts query with variables and returns the response, whatever it says.
func (c *Client) Do(query string, vars map[string]any) *Response {
	c.env.T.Helper()
	return c.Post(map[string]any{"query": query, "variables": vars}, nil)
}

// Post posts body (any GraphQL request object, e.g. one carrying
// extensions.persistedQuery) as JSON to /query with the client's token and the
// extra header, and returns the response, whatever it says. The response must be
// JSON.
func (c *Client) Post(body any, header http.Header) *Response {
	c.env.T.Helper()
	encoded, err := json.Marshal(body)
	if err != nil {
		c.env.T.Fatalf("encoding request: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.env.Server.URL+"/query", bytes.NewReader(encoded))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.env.T.Fatalf("POST /query: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	var decoded struct {
		Data   map[string]any `json:"data"`
		Errors []Error        `json:"errors"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&decoded); err != nil {
		c.env.T.Fatalf("response is not JSON (%d): %s", resp.StatusCode, raw)
	}
	out.Data, out.Errors = decoded.Data, decoded.Errors
	return out
}

// Must posts query and fails the test on any error.
func (c *Client) Must(query string, vars map[string]any) *Response {
	c.env.T.Helper()
	r := c.Do(query, vars)
	if len(r.Errors) > 0 || r.Status != http.StatusOK {
		c.env.T.Fatalf("unexpected errors (HTTP %d): %+v\nquery: %s", r.Status, r.Errors, query)
	}
	return r
}

// Fail posts query and returns its first error, failing the test if there is none.
func (c *Client) Fail(query string, vars map[string]any) Error {
	c.env.T.Helper()
	r := c.Do(query, vars)
	if len(r.Errors) == 0 {
		c.env.T.Fatalf("expected an error, got data %v\nquery: %s", r.Data, query)
	}
	return r.Errors[0]
}

// Get walks a dotted path ("createUser.user.id", "users.edges.0.node") in data.
func (r *Response) Get(path string) any {
	var cur any = r.Data
	for _, part := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			cur = v[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i >= len(v) {
				return nil
			}
			cur = v[i]
		default:
			return nil
		}
	}
	return cur
}

// String is Get as a string ("" when absent).
func (r *Response) String(path string) string {
	switch v := r.Get(path).(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// Int is Get as an int (-1 when absent).
func (r *Response) Int(path string) int {
	if n, ok := r.Get(path).(json.Number); ok {
		i, _ := n.Int64()
		return int(i)
	}
	return -1
}

// List is Get as a list.
func (r *Response) List(path string) []any {
	l, _ := r.Get(path).([]any)
	return l
}

// Strings collects field from every element of the list at path
// ("users.edges", "node.userName").
func (r *Response) Strings(path, field string) []string {
	var out []string
	for _, el := range r.List(path) {
		sub := &Response{Data: map[string]any{"x": el}}
		out = append(out, sub.String("x."+field))
	}
	return out
}
