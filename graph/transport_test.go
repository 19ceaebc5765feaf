package graph

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"latchkey/graph/generated"
)

// TestPostTransportAnswersAsGqlgen posts the same requests to gqlgen's POST transport
// and to postTransport and wants the same status, content type and bytes. (The bytes
// would differ where the data holds <, > or &, which json.Marshal escapes.)
func TestPostTransportAnswersAsGqlgen(t *testing.T) {
	server := func(tr graphql.Transport) http.Handler {
		// No ent client: resolvers that reach for it panic, which gives answers
		// with both data and errors.
		srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{}}))
		srv.AddTransport(tr)
		srv.SetQueryCache(lru.New[*ast.QueryDocument](10))
		srv.Use(extension.Introspection{})
		srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](10)})
		srv.SetRecoverFunc(func(context.Context, any) error { return fmt.Errorf("internal error") })
		return srv
	}
	gqlgen, ours := server(transport.POST{}), server(postTransport{})

	bodies := []string{
		`{"query":"{ __typename }"}`,
		`{"query":"{ __schema { queryType { name } mutationType { name } } }"}`,
		`{"query":"{ node(id: \"x\") { id } }"}`,                    // data and an error
		`{"query":"{"}`,                                             // parse error
		`{"query":"{ nope }"}`,                                      // validation error
		`{"query":"query A { __typename } query B { __typename }"}`, // which operation?
		`{"query":"query($n: Boolean!) { __typename @include(if: $n) }","variables":{"n":"x"}}`,
		`{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"00"}}}`, // error with extensions
		`not json`,
	}
	accepts := []string{"", "application/json", "application/graphql-response+json", "*/*", "application/*",
		"text/html", "text/html, application/graphql-response+json;q=0.9, application/json", ";;;"}
	for _, body := range bodies {
		for _, accept := range accepts {
			t.Run(body+" accept "+accept, func(t *testing.T) {
				post := func(h http.Handler) *httptest.ResponseRecorder {
					r := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(body))
					r.Header.Set("Content-Type", "application/json")
					if accept != "" {
						r.Header.Set("Accept", accept)
					}
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					return w
				}
				want, got := post(gqlgen), post(ours)
				if got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") ||
					got.Body.String() != want.Body.String() {
					t.Errorf("postTransport: %d %s\n%s\ngqlgen's POST: %d %s\n%s",
						got.Code, got.Header().Get("Content-Type"), got.Body,
						want.Code, want.Header().Get("Content-Type"), want.Body)
				}
			})
		}
	}
}
