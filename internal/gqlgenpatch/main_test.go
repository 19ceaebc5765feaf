package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gqlgenOutput is the shape of gqlgen's code around the calls gqlgenpatch replaces.
const gqlgenOutput = `package generated

func (ec *executionContext) _Thing(ctx context.Context, sel ast.SelectionSet, obj *Thing) graphql.Marshaler {
	fields := graphql.CollectFields(ec.OperationContext, sel, thingImplementors)

	out := graphql.NewFieldSet(fields)
	deferred := graphql.NewDeferredGroup(ctx)
	_ = deferred
	return out
}

func (ec *executionContext) marshalNThing2ᚕᚖThingᚄ(ctx context.Context, sel ast.SelectionSet, v []*Thing) graphql.Marshaler {
	ret := graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		return ec.marshalNThing2ᚖThing(ctx, sel, v[i])
	})
	return ret
}

func (ec *executionContext) marshalNEffectiveRight2ᚕᚖlatchkeyᚋinternalᚋaccessᚐEffectiveRightᚄ(ctx context.Context, sel ast.SelectionSet, v []*access.EffectiveRight) graphql.Marshaler {
	ret := graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		return ec.marshalNEffectiveRight2ᚖlatchkeyᚋinternalᚋaccessᚐEffectiveRight(ctx, sel, v[i])
	})
	return ret
}
`

func TestPatch(t *testing.T) {
	tests := []struct {
		name    string
		srcs    map[string]string
		wantErr string
	}{
		{name: "gqlgen's output", srcs: map[string]string{"a.generated.go": gqlgenOutput}},
		{name: "calls spread over files", srcs: map[string]string{
			"a.generated.go": gqlgenOutput[:strings.Index(gqlgenOutput, "func (ec *executionContext) marshal")],
			"b.generated.go": "package generated\n\n" + gqlgenOutput[strings.Index(gqlgenOutput, "func (ec *executionContext) marshal"):],
		}},
		{name: "no list marshalled", srcs: map[string]string{"a.generated.go": gqlgenOutput[:strings.Index(gqlgenOutput, "func (ec *executionContext) marshal")]},
			wantErr: "MarshalSliceConcurrently"},
		{name: "no deferred group", srcs: map[string]string{"a.generated.go": strings.Replace(gqlgenOutput, "graphql.NewDeferredGroup(ctx)", "graphql.NewDeferredGroupFor(ctx, fields)", 1)},
			wantErr: "NewDeferredGroup"},
		{name: "no list of effective rights", srcs: map[string]string{"a.generated.go": strings.Replace(gqlgenOutput, "marshalNEffectiveRight2ᚕ", "marshalNEffectiveRight3ᚕ", 1)},
			wantErr: "marshalNEffectiveRight2ᚕ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, src := range tt.srcs {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := patchDir(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			all := read(t, dir)
			for _, rw := range rewrites {
				if strings.Contains(all, rw.from) || !strings.Contains(all, rw.to) {
					t.Errorf("%q not replaced by %q:\n%s", rw.from, rw.to, all)
				}
			}
			if err := patchDir(dir); err != nil { // a second run finds its own replacements
				t.Fatalf("second run: %v", err)
			}
			if again := read(t, dir); again != all {
				t.Errorf("a second run changed the code:\n%s", again)
			}
		})
	}
}

func read(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.generated.go"))
	var all strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	return all.String()
}
