package main

// Code generation: ent (with entgql, which also writes graph/ent.graphql), then gqlgen,
// then gqlgenpatch on gqlgen's executor (graph/generated/marshal.go says why).
//go:generate go run -mod=mod ./ent/entc.go
//go:generate go tool gqlgen
//go:generate go run ./internal/gqlgenpatch ./graph/generated
