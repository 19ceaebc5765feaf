// Command gqlgenpatch points gqlgen's generated executor at the hand-written
// marshalSlice and newDeferredGroup of graph/generated/marshal.go, and its list of
// effective rights at fastEffectiveRights of graph/generated/fastpath.go (both
// files say why).
// go generate runs it after gqlgen, on gqlgen's fresh output:
//
//	go run ./internal/gqlgenpatch ./graph/generated
//
// It fails when gqlgen's output holds neither the calls it replaces nor the
// replacements, so a gqlgen upgrade that changes them is noticed, not skipped.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
)

// A rewrite replaces every occurrence of from with to.
type rewrite struct{ from, to string }

var rewrites = []rewrite{
	{"graphql.MarshalSliceConcurrently(ctx, ", "marshalSlice(ctx, "},
	{"deferred := graphql.NewDeferredGroup(ctx)\n", "deferred := newDeferredGroup(ctx, fields)\n"},
	// A list of effective rights tries fastpath.go's writer first.
	{effectiveRightsList + "\tret := ", effectiveRightsList +
		"\tif m, ok := ec.fastEffectiveRights(ctx, sel, v); ok {\n\t\treturn m\n\t}\n\tret := "},
}

const effectiveRightsList = "func (ec *executionContext) marshalNEffectiveRight2ᚕᚖlatchkeyᚋinternalᚋaccessᚐEffectiveRightᚄ(" +
	"ctx context.Context, sel ast.SelectionSet, v []*access.EffectiveRight) graphql.Marshaler {\n"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gqlgenpatch DIR (gqlgen's exec directory)")
		os.Exit(2)
	}
	if err := patchDir(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gqlgenpatch:", err)
		os.Exit(1)
	}
}

// patchDir rewrites the *.generated.go files in dir.
func patchDir(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.generated.go"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no *.generated.go files in %s", dir)
	}
	srcs := make(map[string][]byte, len(files))
	for _, f := range files {
		if srcs[f], err = os.ReadFile(f); err != nil {
			return err
		}
	}
	out, err := patch(srcs)
	if err != nil {
		return err
	}
	for f, src := range out {
		if !bytes.Equal(src, srcs[f]) {
			if err := os.WriteFile(f, src, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// patch applies every rewrite to the files' sources. Each rewrite must find its
// call, or its replacement (a second run), in some file.
func patch(srcs map[string][]byte) (map[string][]byte, error) {
	out := make(map[string][]byte, len(srcs))
	for f, src := range srcs {
		out[f] = src
	}
	for _, rw := range rewrites {
		found := false
		for f, src := range out {
			if bytes.Contains(src, []byte(rw.from)) || bytes.Contains(src, []byte(rw.to)) {
				found = true
			}
			out[f] = bytes.ReplaceAll(src, []byte(rw.from), []byte(rw.to))
		}
		if !found {
			return nil, fmt.Errorf("gqlgen's output no longer calls %q: review graph/generated/marshal.go, fastpath.go and this rewrite", rw.from)
		}
	}
	for f, src := range out {
		formatted, err := format.Source(src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out[f] = formatted
	}
	return out, nil
}
