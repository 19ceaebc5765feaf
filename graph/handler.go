package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"latchkey/ent"
	"latchkey/graph/generated"
	"latchkey/graph/relayid"
	"latchkey/internal/access"
	"latchkey/internal/identity"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// Limits bound what one request may ask for.
type Limits struct {
	// MaxPageSize caps first/last on every connection.
	MaxPageSize int
	// DefaultPageSize is the page of a connection asked for without first or last
	// (at most MaxPageSize; 0 means 100).
	DefaultPageSize int
	// MaxComplexity is the largest cost a query may have; a connection's cost is its
	// children's times its page size.
	MaxComplexity int
	// MaxDepth is the deepest selection a query may nest (introspection excluded).
	MaxDepth int
}

// DefaultLimits suit an admin frontend.
var DefaultLimits = Limits{MaxPageSize: 1000, DefaultPageSize: 100, MaxComplexity: 250_000, MaxDepth: 15}

// Config configures the GraphQL handler.
type Config struct {
	Limits     Limits
	Identity   *identity.Service // sign-in, invitations (nil: not offered)
	Login      *LoginLimits
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
}

// NewHandler returns the GraphQL endpoint over client.
func NewHandler(client *ent.Client, cfg Config) http.Handler {
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if cfg.Limits.DefaultPageSize <= 0 {
		cfg.Limits.DefaultPageSize = 100
	}
	cfg.Limits.DefaultPageSize = min(cfg.Limits.DefaultPageSize, cfg.Limits.MaxPageSize)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	schema := pagedComplexity{
		ExecutableSchema: generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{client: client, identity: cfg.Identity, limits: cfg.Login}}),
		maxPage:          cfg.Limits.MaxPageSize,
	}
	srv := handler.New(schema)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(postTransport{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	srv.Use(pageSizeLimit{max: cfg.Limits.MaxPageSize, def: cfg.Limits.DefaultPageSize}) // before the complexity limit, which reads the pages it sets
	srv.Use(extension.FixedComplexityLimit(cfg.Limits.MaxComplexity))
	srv.Use(depthLimit{max: cfg.Limits.MaxDepth})
	srv.Use(transactioner{entgql.Transactioner{TxOpener: client, SkipTxFunc: entgql.SkipIfHasFields(signInOperations...)}})
	responses := newResponseCache(responseCacheMinBytes, responseCacheEntryBytes, responseCacheBytes)
	srv.Use(responses)
	// Root fields only: generated/fastpath.go writes lists of effective rights
	// without per-field middleware, so an AroundFields here would miss those fields.
	srv.AroundRootFields(nameOperation)
	srv.AroundRootFields(guard)
	srv.AroundResponses(inputErrors)
	if cfg.Registerer != nil {
		srv.AroundOperations(observe(cfg.Registerer))
	}
	srv.SetErrorPresenter(presentError(cfg.Logger))
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		cfg.Logger.ErrorContext(ctx, "graphql panic", "panic", fmt.Sprint(v), "request_id", viewer.RequestID(ctx))
		return problem.New(problem.Internal, "", "internal error")
	})
	return responses.wrap(srv)
}

// GraphiQL serves the in-browser IDE for endpoint.
func GraphiQL(endpoint string) http.Handler {
	return playground.Handler("Latchkey", endpoint)
}

// transactioner runs each mutation operation in one transaction (entgql's), and
// stays out of requests gqlgen refused before there was an operation to run.
type transactioner struct{ entgql.Transactioner }

func (t transactioner) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	return t.Transactioner.InterceptResponse(ctx, next)
}

// pagedComplexity makes a connection cost its children's complexity times its page
// size, so the limit bounds the rows a query can fetch, not just its field count.
type pagedComplexity struct {
	graphql.ExecutableSchema
	maxPage int
}

func (s pagedComplexity) Complexity(ctx context.Context, typeName, field string, childComplexity int, args map[string]any) (int, bool) {
	if c, ok := s.ExecutableSchema.Complexity(ctx, typeName, field, childComplexity, args); ok {
		return c, ok
	}
	_, first := args["first"]
	_, last := args["last"]
	if !first && !last { // not a connection: pageSizeLimit gives every connection one of them
		return 0, false
	}
	return 1 + childComplexity*pageSize(args, s.maxPage), true
}

func pageSize(args map[string]any, max int) int {
	for _, k := range []string{"first", "last"} {
		if n, ok := args[k].(*int); ok && n != nil {
			return *n
		}
		if n, ok := args[k].(int64); ok {
			return int(n)
		}
		if n, ok := args[k].(int); ok {
			return n
		}
	}
	return max
}

// nameOperation puts the root field being served in the context, for the audit log.
func nameOperation(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	op := graphql.GetOperationContext(ctx).Operation
	name := graphql.GetRootFieldContext(ctx).Field.Name
	if op != nil {
		name = string(op.Operation) + " " + name
	}
	return next(viewer.WithOperation(ctx, name))
}

// guard enforces access.Guards (SPEC §2.8) on every root field: the one place the API
// checks who may call what. Fields below the root are limited by the privacy rules.
func guard(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	rfc := graphql.GetRootFieldContext(ctx)
	op := graphql.GetOperationContext(ctx)
	name := rfc.Field.Name
	if strings.HasPrefix(name, "__") {
		return next(ctx)
	}
	args := rfc.Field.ArgumentMap(op.Variables)
	if g, ok := access.Guards[name]; ok && g.Self != "" {
		if s, ok := args[g.Self].(string); ok {
			if id, err := relayid.Decode(s); err == nil {
				args[g.Self] = id
			}
		}
	}
	mutation := op.Operation != nil && op.Operation.Operation == ast.Mutation
	if err := access.Authorize(ctx, name, mutation, args); err != nil {
		graphql.AddError(ctx, err)
		return graphql.Null
	}
	return next(ctx)
}

// PublicRequest reports whether a GraphQL request body asks only for operations that
// need no caller (signing in), so it may be served without a token.
func PublicRequest(body []byte) bool {
	var req struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(body, &req) != nil || req.Query == "" {
		return false
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: req.Query})
	if err != nil || len(doc.Operations) != 1 {
		return false
	}
	for _, sel := range doc.Operations[0].SelectionSet {
		f, ok := sel.(*ast.Field)
		if !ok || !access.Guards[f.Name].Public {
			return false
		}
	}
	return len(doc.Operations[0].SelectionSet) > 0
}

// depthLimit refuses queries nested deeper than max.
type depthLimit struct{ max int }

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(ctx context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(rc.Operation.SelectionSet, rc.Doc.Fragments, 0); depth > d.max {
		err := gqlerror.Errorf("query is nested %d levels deep; the limit is %d", depth, d.max)
		err.Extensions = map[string]any{"code": string(problem.BadUserInput)}
		return err
	}
	return nil
}

func selectionDepth(set ast.SelectionSet, fragments ast.FragmentDefinitionList, visited int) int {
	if visited > 64 {
		return visited // a fragment cycle; validation reports it
	}
	deepest := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue
			}
			d = 1 + selectionDepth(s.SelectionSet, fragments, visited+1)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, fragments, visited+1)
		case *ast.FragmentSpread:
			if f := fragments.ForName(s.Name); f != nil {
				d = selectionDepth(f.SelectionSet, fragments, visited+1)
			}
		}
		if d > deepest {
			deepest = d
		}
	}
	return deepest
}

// presentError gives every error a code (SPEC §6) and never leaks a store message.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			if code, _ := gqlErr.Extensions["code"].(string); code == string(problem.NotFound) {
				gqlErr.Message = "not found" // entgql's message names the internal id
			}
			return gqlErr // produced by gqlgen itself (parse, validation)
		}
		p := problem.From(err)
		if gqlErr != nil && len(gqlErr.Path) > len(graphql.GetPath(ctx)) {
			// gqlgen put the error on an argument or input field: the client's input
			// could not be read (a malformed id or cursor), whatever the error says.
			p = inputProblem(p, gqlErr.Path)
		}
		out := graphql.DefaultErrorPresenter(ctx, p)
		out.Message = p.Message
		out.Extensions = map[string]any{"code": string(p.Code)}
		if p.Field != "" {
			out.Extensions["field"] = p.Field
		}
		if p.Code == problem.Internal {
			log.ErrorContext(ctx, "graphql error", "error", err.Error(), "path", out.Path.String(), "request_id", viewer.RequestID(ctx))
		}
		return out
	}
}

// inputProblem names the input field at the end of path in p, and makes an
// unclassified failure to read it a BAD_USER_INPUT.
func inputProblem(p *problem.Error, path ast.Path) *problem.Error {
	name := ""
	for _, el := range path {
		if n, ok := el.(ast.PathName); ok {
			name = string(n)
		}
	}
	if p.Code == problem.Internal {
		return problem.BadInput(name, "%s is not a valid value", name)
	}
	if p.Field == "" {
		named := *p
		named.Field = name
		return &named
	}
	return p
}

var (
	// gqlgen's messages for input it could not coerce.
	requiredField = regexp.MustCompile(`^Field "[A-Za-z]+\.([A-Za-z]+)" of required type "[^"]+" was not provided`)
	requiredArg   = regexp.MustCompile(`^Field "[A-Za-z]+" argument "([A-Za-z]+)" of type "[^"]+" is required`)
	variablePath  = regexp.MustCompile(`^input: variable\.[A-Za-z]+((?:\.[A-Za-z0-9]+|\[\d+\])*)`)
)

// inputErrors reports missing or mistyped input as BAD_USER_INPUT naming the field,
// as for every other invalid input, instead of a bare validation failure.
func inputErrors(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil {
		return resp
	}
	for _, e := range resp.Errors {
		if code, _ := e.Extensions["code"].(string); code != "GRAPHQL_VALIDATION_FAILED" {
			continue
		}
		field := ""
		if len(e.Path) > 1 && e.Path[0] == ast.PathName("variable") {
			for _, p := range e.Path[1:] {
				if name, ok := p.(ast.PathName); ok {
					field = string(name)
				}
			}
		} else if m := requiredField.FindStringSubmatch(e.Message); m != nil {
			field = m[1]
		} else if m := requiredArg.FindStringSubmatch(e.Message); m != nil {
			field = m[1]
		} else if m := variablePath.FindStringSubmatch(e.Message); m != nil && m[1] != "" {
			parts := strings.Split(strings.TrimPrefix(m[1], "."), ".")
			field = parts[len(parts)-1]
		} else {
			continue
		}
		e.Extensions["code"] = string(problem.BadUserInput)
		e.Extensions["field"] = field
	}
	return resp
}

// observe records each operation's latency by type and root fields (a bounded set,
// unlike client-chosen operation names).
func observe(reg prometheus.Registerer) graphql.OperationMiddleware {
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "latchkey_graphql_operation_duration_seconds",
		Help:    "GraphQL operation latency by operation type and root fields.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"type", "fields", "outcome"})
	reg.MustRegister(hist)
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		rc := graphql.GetOperationContext(ctx)
		start := time.Now()
		opType, fields := "unknown", "none"
		if rc.Operation != nil {
			opType = string(rc.Operation.Operation)
			var names []string
			for _, sel := range rc.Operation.SelectionSet {
				if f, ok := sel.(*ast.Field); ok {
					names = append(names, f.Name)
				}
			}
			sort.Strings(names)
			fields = strings.Join(names, ",")
		}
		h := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			resp := h(ctx)
			outcome := "ok"
			if resp != nil && len(resp.Errors) > 0 {
				outcome = "error"
			}
			hist.WithLabelValues(opType, fields, outcome).Observe(time.Since(start).Seconds())
			return resp
		}
	}
}
