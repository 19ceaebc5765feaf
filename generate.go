package main

// Code generation: ent (with entgql, which also writes graph/ent.graphql), then gqlgen.
//go:generate go run -mod=mod ./ent/entc.go
//go:generate go tool gqlgen
