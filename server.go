// Command latchkey is the Latchkey server: user administration and access rights
// over GraphQL and SCIM. See README.md.
package main

import (
	"context"
	"os"

	"latchkey/internal/app"

	_ "latchkey/ent/runtime" // registers the ent schema's hooks and privacy policies
)

func main() {
	os.Exit(app.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
