//go:build ignore

// entc.go drives all ent and entgql code generation (run by `go generate ./...`
// from the repository root).
package main

import (
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithConfigPath("./gqlgen.yml"),
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("./graph/ent.graphql"),
		entgql.WithWhereInputs(true),
		entgql.WithRelaySpec(true),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:  "./ent",
		Package: "latchkey/ent",
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureEntQL,
			gen.FeatureIntercept,
			gen.FeatureNamedEdges,
			gen.FeatureGlobalID,
			gen.FeatureVersionedMigration,
			gen.FeatureUpsert,
			gen.FeatureModifier,
			gen.FeatureExecQuery,
			gen.FeatureLock,
		},
		Templates: []*gen.Template{
			gen.MustParse(gen.NewTemplate("edgetargets").ParseFiles("./ent/template/edgetargets.tmpl")),
		},
	}, entc.Extensions(ex), overrideEntgql("./ent/template/paginate.tmpl"))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// overrideEntgql adds templates that redefine some of entgql's (they need its
// template functions to parse). Added after the extension, they are parsed after
// its templates, so their definitions win.
func overrideEntgql(files ...string) entc.Option {
	return func(cfg *gen.Config) error {
		t, err := gen.NewTemplate("entgql overrides").Funcs(entgql.TemplateFuncs).ParseFiles(files...)
		if err != nil {
			return err
		}
		cfg.Templates = append(cfg.Templates, t)
		return nil
	}
}
