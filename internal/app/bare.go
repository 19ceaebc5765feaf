package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"latchkey/graph/generated"
)

// The bare stack is what Latchkey's can stands on, and nothing more: Go's HTTP
// server and gqlgen's handler (its POST transport and query cache) over the
// generated schema, whose can answers true at once — no authentication, no
// database, no middleware, no rights engine. `bench --bare` serves it in a process
// of its own, as a server under test would be, and drives it as it drives
// Latchkey: what the stack alone gives on a machine bounds what any resolver on it
// can give.

// bareServerCommand is the hidden command that serves the bare stack.
const bareServerCommand = "bare-server"

// bareResolvers answers can; any other field finds no resolver (a nil interface)
// and gqlgen reports the panic as that field's error.
type bareResolvers struct{ generated.ResolverRoot }

func (bareResolvers) Query() generated.QueryResolver { return bareQuery{} }

type bareQuery struct{ generated.QueryResolver }

func (bareQuery) Can(context.Context, int, string, int, *int) (bool, error) { return true, nil }

// bareHandler serves GraphQL at /query and "ok" at /healthz, as Latchkey does.
func bareHandler() http.Handler {
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: bareResolvers{}}))
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	mux := http.NewServeMux()
	mux.Handle("POST /query", srv)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return mux
}

// serveBare serves the bare stack on addr until ctx ends, with serve's default
// memory settings, and first prints its base URL on stdout.
func serveBare(ctx context.Context, addr string, stdout io.Writer) error {
	tuneMemory(DefaultMemoryLimitMiB, DefaultGCPercent, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: bareHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if _, err := fmt.Fprintln(stdout, "http://"+ln.Addr().String()); err != nil {
		_ = ln.Close()
		return err
	}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startBare runs this executable's bare-server command on a free loopback port and
// returns its base URL, and stop, which ends it.
func startBare(ctx context.Context, stderr io.Writer) (url string, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("bench --bare: finding this program to run the bare stack: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, bareServerCommand, "--addr", "127.0.0.1:0")
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("bench --bare: starting the bare stack: %w", err)
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if url = strings.TrimSpace(line); err != nil || !strings.HasPrefix(url, "http://") {
		stop()
		return "", nil, fmt.Errorf("bench --bare: the bare stack did not say where it listens (%q, %v)", line, err)
	}
	return url, stop, nil
}

// lockedWriter lets two goroutines write to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
