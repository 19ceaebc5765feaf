package app_test

import (
	"context"
	"os"
	"testing"

	"latchkey/internal/app"
)

// asLatchkey, set to 1 in a test binary's environment, makes it latchkey: a command
// that runs latchkey again as a child (bench --bare runs its bare-server command
// so) runs this binary, which TestMain hands to app.Main.
const asLatchkey = "LATCHKEY_TEST_AS_LATCHKEY"

func TestMain(m *testing.M) {
	if os.Getenv(asLatchkey) == "1" {
		os.Exit(app.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
