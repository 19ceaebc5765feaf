package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/bench"
	"latchkey/internal/seed"
	"latchkey/internal/store"
)

// BenchmarkEffectiveRightsAnswer makes the bench's effectiveRightsFresh answer (the
// seed's subject: 3 types, 200 grants, about 245 rights with their sources, 57 KB)
// through the real handler, in process and one at a time: the CPU and garbage of
// one answer, which with several clients on 2 cores decide its latency. The rights
// engine's caches are warm after the first answer; the response cache is skipped.
func BenchmarkEffectiveRightsAnswer(b *testing.B) {
	ctx := b.Context()
	dbURL := "sqlite://" + filepath.ToSlash(filepath.Join(b.TempDir(), "x.db"))
	command := func(args ...string) string {
		r := latchkey(b, ctx, append(args, "--database", dbURL, "--log-level", "error")...)
		if r.code != 0 {
			b.Fatalf("%s: exit %d: %s", args[0], r.code, r.stderr)
		}
		return strings.TrimSpace(r.stdout)
	}
	command("seed", "--users", "500")
	token := command("token", "--account", seed.DefaultAccount, "--email", seed.Operator)
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	env := apptest.New(b, st, app.Config{})
	subject := env.Client(token).Must(`query($n: String!) { users(where: {userName: $n}) { edges { node { id } } } }`,
		map[string]any{"n": seed.Subject}).String("users.edges.0.node.id")

	body, _ := json.Marshal(map[string]any{"query": bench.QueryEffectiveRights, "variables": map[string]any{"u": subject}})
	answer := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("Cache-Control", "no-cache")
		w := httptest.NewRecorder()
		env.App.Handler.ServeHTTP(w, r)
		return w
	}
	first := answer()
	if first.Code != http.StatusOK || first.Body.Len() < 50_000 || strings.Contains(first.Body.String(), `"errors"`) {
		b.Fatalf("answer: %d, %d bytes: %.300s", first.Code, first.Body.Len(), first.Body)
	}
	b.ReportAllocs()
	b.SetBytes(int64(first.Body.Len()))
	for b.Loop() {
		if w := answer(); w.Code != http.StatusOK {
			b.Fatalf("answer: %d: %.300s", w.Code, w.Body)
		}
	}
}
