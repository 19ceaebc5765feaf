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

// answerBench is the real handler over a seeded account of 500 users, with the
// seed's operator's token and the subject's id.
type answerBench struct {
	env     *apptest.Env
	token   string
	subject string
}

func newAnswerBench(b *testing.B) *answerBench {
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
	return &answerBench{env: env, token: token, subject: subject}
}

// answer posts query with vars through the handler, asking for a fresh answer
// (the response cache is skipped), and fails b unless it is a 200 without errors.
func (ab *answerBench) answer(b *testing.B, query string, vars map[string]any) *httptest.ResponseRecorder {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	r := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+ab.token)
	r.Header.Set("Cache-Control", "no-cache")
	w := httptest.NewRecorder()
	ab.env.App.Handler.ServeHTTP(w, r)
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), `"errors"`) {
		b.Fatalf("answer: %d: %.300s", w.Code, w.Body)
	}
	return w
}

// BenchmarkEffectiveRightsAnswer makes the bench's effectiveRightsFresh answer (the
// seed's subject: 3 types, 200 grants, about 245 rights with their sources, 57 KB)
// through the real handler, in process and one at a time: the CPU and garbage of
// one answer, which with several clients on 2 cores decide its latency. The rights
// engine's caches are warm after the first answer; the response cache is skipped.
func BenchmarkEffectiveRightsAnswer(b *testing.B) {
	ab := newAnswerBench(b)
	vars := map[string]any{"u": ab.subject}
	first := ab.answer(b, bench.QueryEffectiveRights, vars)
	if first.Body.Len() < 50_000 {
		b.Fatalf("answer: %d bytes: %.300s", first.Body.Len(), first.Body)
	}
	b.ReportAllocs()
	b.SetBytes(int64(first.Body.Len()))
	for b.Loop() {
		ab.answer(b, bench.QueryEffectiveRights, vars)
	}
}

// BenchmarkCanAnswer is one of the bench's can checks through the real handler, in
// process: the CPU and garbage of a check the engine's caches already answer, which
// is nearly all of a check's under load (HTTP, auth, the revision read, GraphQL).
func BenchmarkCanAnswer(b *testing.B) {
	ab := newAnswerBench(b)
	ds := ab.env.Client(ab.token).Must(`{ dataSets(first: 1) { edges { node { id } } } }`, nil).String("dataSets.edges.0.node.id")
	vars := map[string]any{"u": ab.subject, "r": "users.admin", "d": ds, "n": nil}
	if w := ab.answer(b, bench.QueryCan, vars); !strings.Contains(w.Body.String(), `"can":`) {
		b.Fatalf("answer: %.300s", w.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		ab.answer(b, bench.QueryCan, vars)
	}
}
