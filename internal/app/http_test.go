package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// TestHTTPEndpoints checks the endpoints beside /query: probes, metrics, JWKS,
// GraphiQL, request ids and the request body limit.
func TestHTTPEndpoints(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		const maxBody = 4096
		env := apptest.New(t, st, app.Config{MaxBodyBytes: maxBody})
		c, boot := env.Bootstrap("acme", "admin@acme.test")

		t.Run("probes", func(t *testing.T) {
			for _, path := range []string{"/healthz", "/readyz"} {
				resp, body := env.Get(path, nil)
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
				}
			}
			// A store whose database is gone: not ready, still alive, and a good token
			// gets a server error rather than a 401 that would make clients drop it.
			var down *store.Store
			if st.Dialect == "mysql" {
				down = storetest.MySQL(t)
			} else {
				down = storetest.SQLite(t)
			}
			denv := apptest.New(t, down, app.Config{})
			dc, _ := denv.Bootstrap("acme", "admin@acme.test")
			if resp, body := denv.Get("/readyz", nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /readyz before closing: %d %s", resp.StatusCode, body)
			}
			if err := down.DB.Close(); err != nil {
				t.Fatal(err)
			}
			if resp, body := denv.Get("/readyz", nil); resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("GET /readyz with the database closed: %d %s, want 503", resp.StatusCode, body)
			}
			if resp, body := denv.Get("/healthz", nil); resp.StatusCode != http.StatusOK {
				t.Errorf("GET /healthz with the database closed: %d %s, want 200 (liveness does not depend on the store)", resp.StatusCode, body)
			}
			r := dc.Do(`{ viewer { id } }`, nil)
			if r.Status < 500 || len(r.Errors) == 0 || r.Errors[0].Code() == "UNAUTHENTICATED" {
				t.Errorf("query with a good token while the database is closed: HTTP %d %v, want a 5xx that is not UNAUTHENTICATED", r.Status, r.Errors)
			}
			checkNoSQL(t, "database closed", r.Errors)
		})

		t.Run("metrics", func(t *testing.T) {
			c.Must(`{ users { totalCount } }`, nil)
			env.Get("/no/such/path/42", nil)
			resp, body := env.Get("/metrics", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /metrics: %d", resp.StatusCode)
			}
			text := string(body)
			for _, want := range []string{
				`latchkey_http_requests_total{method="POST",route="/query",status="200"}`,
				`latchkey_http_request_duration_seconds_bucket{route="/query"`,
				`latchkey_graphql_operation_duration_seconds_count{fields="users",outcome="ok",type="query"}`,
				"go_goroutines ",
				`go_sql_open_connections{db_name="latchkey"}`,
				`go_sql_max_open_connections{db_name="latchkey"}`,
			} {
				if !strings.Contains(text, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			if strings.Contains(text, "/no/such/path/42") {
				t.Errorf("/metrics labels a request by its raw path (unbounded label values)")
			}
		})

		t.Run("jwks", func(t *testing.T) {
			resp, body := env.Get("/.well-known/jwks.json", nil)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("GET jwks: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			var raw struct{ Keys []map[string]any }
			if err := json.Unmarshal(body, &raw); err != nil || len(raw.Keys) == 0 {
				t.Fatalf("jwks is not a non-empty JWK Set (%v): %s", err, body)
			}
			for _, k := range raw.Keys {
				if k["kid"] == nil || k["kid"] == "" || k["alg"] == nil || k["alg"] == "" || k["kty"] == nil {
					t.Errorf("JWK without kid, alg or kty: %v", k)
				}
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := k[private]; ok {
						t.Errorf("JWKS publishes private key member %q", private)
					}
				}
			}
			// The access token verifies against the published key its header names.
			var set jwkset.JWKSMarshal
			if err := json.Unmarshal(body, &set); err != nil {
				t.Fatal(err)
			}
			keys, err := set.JWKSlice()
			if err != nil {
				t.Fatalf("parsing JWKS: %v", err)
			}
			tok, err := jwt.Parse(c.Token, func(tok *jwt.Token) (any, error) {
				for _, k := range keys {
					if m := k.Marshal(); m.KID == tok.Header["kid"] {
						if string(m.ALG) != tok.Header["alg"] {
							return nil, fmt.Errorf("token alg %v, JWK alg %s", tok.Header["alg"], m.ALG)
						}
						return k.Key(), nil
					}
				}
				return nil, fmt.Errorf("no published key has kid %v", tok.Header["kid"])
			}, jwt.WithAudience("latchkey"), jwt.WithIssuer("latchkey"))
			if err != nil || !tok.Valid {
				t.Errorf("the access token does not verify against the JWKS: %v", err)
			}
		})

		t.Run("graphiql", func(t *testing.T) {
			resp, body := env.Get("/", nil)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if html := strings.ToLower(string(body)); !strings.Contains(html, "graphiql") || !strings.Contains(html, "/query") {
				t.Errorf("GET / is not GraphiQL pointed at /query: %.300s", body)
			}
			if resp, _ := env.Get("/nope", nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET /nope: %d, want 404 (GraphiQL is served at / only)", resp.StatusCode)
			}
		})

		t.Run("request id", func(t *testing.T) {
			r := c.Post(map[string]any{"query": `mutation { createUser(input: {userName: "traced", email: "traced@acme.test"}) { user { id } } }`},
				http.Header{"X-Request-Id": {"req-test-0001"}})
			if len(r.Errors) > 0 {
				t.Fatalf("createUser: %v", r.Errors)
			}
			if got := r.Header.Get("X-Request-Id"); got != "req-test-0001" {
				t.Errorf("X-Request-Id echoed as %q, want req-test-0001", got)
			}
			id := r.String("createUser.user.id")
			ev := c.Must(`{ auditEvents(where: {requestID: "req-test-0001"}) { totalCount edges { node { action targetID requestID operation } } } }`, nil)
			if ev.Int("auditEvents.totalCount") < 1 || ev.String("auditEvents.edges.0.node.targetID") != id ||
				ev.String("auditEvents.edges.0.node.action") != "user.create" || ev.String("auditEvents.edges.0.node.operation") != "mutation createUser" {
				t.Errorf("audit events of request req-test-0001: %v, want the user.create of %s", ev.Data, id)
			}

			seen := map[string]bool{}
			for i := range 3 {
				r := c.Do(`{ viewer { id } }`, nil)
				got := r.Header.Get("X-Request-Id")
				if len(got) < 8 || seen[got] {
					t.Errorf("request %d without X-Request-Id got id %q (want a fresh, non-trivial id)", i, got)
				}
				seen[got] = true
			}
			long := strings.Repeat("x", 101)
			if got := c.Post(map[string]any{"query": `{ viewer { id } }`}, http.Header{"X-Request-Id": {long}}).Header.Get("X-Request-Id"); got == long || got == "" {
				t.Errorf("an over-long X-Request-Id was echoed as %q, want a generated one", got)
			}
			if resp, _ := env.Get("/healthz", http.Header{"X-Request-Id": {"probe-7"}}); resp.Header.Get("X-Request-Id") != "probe-7" {
				t.Errorf("/healthz echoed X-Request-Id %q", resp.Header.Get("X-Request-Id"))
			}
			if r := env.Client("").Post(map[string]any{"query": `{ viewer { id } }`}, http.Header{"X-Request-Id": {"anon-1"}}); r.Header.Get("X-Request-Id") != "anon-1" {
				t.Errorf("a 401 echoed X-Request-Id %q", r.Header.Get("X-Request-Id"))
			}
		})

		t.Run("body limit", func(t *testing.T) {
			big, _ := json.Marshal(map[string]any{"query": `{ viewer { id } }`, "variables": map[string]any{"pad": strings.Repeat("x", maxBody)}})
			for _, chunked := range []bool{false, true} {
				req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/query", bytes.NewReader(big))
				if chunked {
					req.Body = io.NopCloser(bytes.NewReader(big))
					req.ContentLength = -1
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+c.Token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("chunked=%v: %v", chunked, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Errorf("chunked=%v: a %d-byte body over MaxBodyBytes %d got HTTP %d %.200s, want 413 or another 4xx "+
						"(withBodyLimit answers 413 only for a declared Content-Length; a streamed body hits MaxBytesReader inside gqlgen, whose error response panics in entgql.Transactioner)",
						chunked, len(big), maxBody, resp.StatusCode, body)
				}
				if resp.StatusCode != http.StatusRequestEntityTooLarge && !strings.Contains(string(body), "errors") {
					t.Errorf("chunked=%v: refusal %d is neither 413 nor a GraphQL error: %.200s", chunked, resp.StatusCode, body)
				}
			}
			// The server is unharmed, and a body under the limit is served.
			c.Must(`query($pad: String) { users(where: {userName: $pad}) { totalCount } }`, map[string]any{"pad": strings.Repeat("x", maxBody/2)})
			_ = boot
		})
	})
}
