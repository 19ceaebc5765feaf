package graph

import (
	"context"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"latchkey/internal/problem"
)

// pageSizeLimit gives every connection in an operation an explicit page: it refuses
// first or last above max, and adds first: def where neither is given. It rewrites the
// operation before anything reads it, so the complexity limit, entgql's eager loading
// (CollectFields) and the resolvers, nested ones included, all see the same page.
// The parsed document is shared through the query cache, so it is copied on write.
type pageSizeLimit struct{ max, def int }

func (pageSizeLimit) ExtensionName() string                   { return "PageSizeLimit" }
func (pageSizeLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (p pageSizeLimit) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Operation == nil || rc.Doc == nil {
		return nil
	}
	r := pageRewriter{max: p.max, def: p.def, vars: rc.Variables, doc: rc.Doc, fragments: map[string]*ast.FragmentDefinition{}}
	set, changed := r.selections(rc.Operation.SelectionSet)
	if r.err != nil {
		return r.err
	}
	if !changed {
		return nil
	}
	op := *rc.Operation
	op.SelectionSet = set
	doc := *rc.Doc
	doc.Operations = make(ast.OperationList, len(rc.Doc.Operations))
	for i, o := range rc.Doc.Operations {
		doc.Operations[i] = o
		if o == rc.Operation {
			doc.Operations[i] = &op
		}
	}
	doc.Fragments = make(ast.FragmentDefinitionList, len(rc.Doc.Fragments))
	for i, f := range rc.Doc.Fragments {
		doc.Fragments[i] = f
		if nf := r.fragments[f.Name]; nf != nil {
			doc.Fragments[i] = nf
		}
	}
	rc.Operation, rc.Doc = &op, &doc
	return nil
}

type pageRewriter struct {
	max, def  int
	vars      map[string]any
	doc       *ast.QueryDocument
	fragments map[string]*ast.FragmentDefinition // rewritten fragments, nil when unchanged
	visiting  map[string]bool
	err       *gqlerror.Error
}

// fragment returns the rewritten definition of the named fragment, or nil when it
// needs no change.
func (r *pageRewriter) fragment(name string) *ast.FragmentDefinition {
	if nf, done := r.fragments[name]; done || r.visiting[name] {
		return nf
	}
	def := r.doc.Fragments.ForName(name)
	if def == nil {
		return nil
	}
	if r.visiting == nil {
		r.visiting = map[string]bool{}
	}
	r.visiting[name] = true
	var nf *ast.FragmentDefinition
	if set, changed := r.selections(def.SelectionSet); changed {
		copied := *def
		copied.SelectionSet = set
		nf = &copied
	}
	r.fragments[name] = nf
	return nf
}

func (r *pageRewriter) selections(set ast.SelectionSet) (ast.SelectionSet, bool) {
	var out ast.SelectionSet
	changed := false
	for i, sel := range set {
		next := sel
		switch s := sel.(type) {
		case *ast.Field:
			if nf := r.field(s); nf != s {
				next = nf
			}
		case *ast.InlineFragment:
			if inner, ok := r.selections(s.SelectionSet); ok {
				nf := *s
				nf.SelectionSet = inner
				next = &nf
			}
		case *ast.FragmentSpread:
			if def := r.fragment(s.Name); def != nil {
				ns := *s
				ns.Definition = def
				next = &ns
			}
		}
		if next != sel && !changed {
			changed = true
			out = append(ast.SelectionSet{}, set[:i]...)
		}
		if changed {
			out = append(out, next)
		}
	}
	if !changed {
		return set, false
	}
	return out, true
}

// field returns f, or a copy of it with its children rewritten and a first argument.
func (r *pageRewriter) field(f *ast.Field) *ast.Field {
	children, changed := r.selections(f.SelectionSet)
	needsFirst := false
	if isConnection(f) {
		given := false
		for _, name := range []string{"first", "last"} {
			arg := f.Arguments.ForName(name)
			if arg == nil {
				continue
			}
			v, err := arg.Value.Value(r.vars)
			if err != nil || v == nil {
				continue
			}
			given = true
			if n, ok := v.(int64); ok && (n < 0 || n > int64(r.max)) && r.err == nil {
				r.err = gqlerror.Errorf("%s must be between 0 and %d", name, r.max)
				r.err.Extensions = map[string]any{"code": string(problem.BadUserInput), "field": name}
			}
		}
		needsFirst = !given
	}
	if !changed && !needsFirst {
		return f
	}
	nf := *f
	nf.SelectionSet = children
	if needsFirst {
		nf.Arguments = append(append(ast.ArgumentList{}, f.Arguments...), &ast.Argument{
			Name:     "first",
			Value:    &ast.Value{Kind: ast.IntValue, Raw: strconv.Itoa(r.def), Position: f.Position},
			Position: f.Position,
		})
	}
	return &nf
}

// isConnection reports whether f returns a Relay connection that pages with first/last.
func isConnection(f *ast.Field) bool {
	d := f.Definition
	return d != nil && d.Type != nil && strings.HasSuffix(d.Type.Name(), "Connection") &&
		d.Arguments.ForName("first") != nil && d.Arguments.ForName("last") != nil
}
