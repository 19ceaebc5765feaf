package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"latchkey/graph"
	"latchkey/internal/access"
	"latchkey/internal/auth"
	"latchkey/internal/identity"
	"latchkey/internal/mail"
	"latchkey/internal/store"
	"latchkey/internal/viewer"
	"latchkey/scim"
)

// Server is the wired HTTP application over one store.
type Server struct {
	Handler  http.Handler
	Auth     *auth.Service
	Keys     *auth.Keys
	Identity *identity.Service
	// Close releases what the server holds (external issuers' key refreshers).
	Close func()
}

// NewServer wires every endpoint of SPEC §6 over st.
func NewServer(cfg Config, st *store.Store, log *slog.Logger) (*Server, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(st.DB, "latchkey"), peakRSS())

	keys, authn, closeAuth, err := newAuth(cfg, st, log)
	if err != nil {
		return nil, err
	}
	ids, err := identity.New(identity.Config{BaseURL: cfg.PublicURL, InvitationTTL: cfg.InvitationTTL, RefreshTTL: cfg.RefreshTTL}, authn)
	if err != nil {
		closeAuth()
		return nil, err
	}
	origins, err := auth.ParseCORSOrigins(cfg.CORSOrigins)
	if err != nil {
		closeAuth()
		return nil, err
	}
	login := &graph.LoginLimits{PerAddress: auth.NewLimiter(2*time.Second, 20), PerLogin: auth.NewLimiter(12*time.Second, 5)}
	gql := graph.NewHandler(st.Client, graph.Config{Limits: cfg.Limits, Logger: log, Registerer: reg, Identity: ids, Login: login})
	cors := auth.CORS(origins)

	mux := http.NewServeMux()
	mux.Handle("/query", cors(signInOrAuthenticated(gql, authn.Middleware(gql))))
	mux.Handle(scim.Prefix+"/", scim.NewHandler(st.Client, ids, log))
	mux.Handle("POST "+auth.OAuthTokenPath, cors(authn.OAuthTokenEndpoint(auth.NewLimiter(time.Second, 30), auth.NewLimiter(6*time.Second, 10))))
	mux.Handle("GET /{$}", graph.GraphiQL("/query"))
	mux.Handle("/.well-known/jwks.json", keys.JWKSHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := st.Ping(ctx); err != nil {
			log.WarnContext(ctx, "not ready", "error", err.Error())
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("database unavailable\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}

	handler := withRequestContext(withAccessLog(log, withMetrics(reg, mux, withBodyLimit(cfg.MaxBodyBytes, mux))))
	return &Server{Handler: handler, Auth: authn, Keys: keys, Identity: ids, Close: closeAuth}, nil
}

// peakRSS reports the process's peak resident memory (Linux VmHWM), so a benchmark
// can read the high-water mark of a whole run from /metrics afterwards.
func peakRSS() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latchkey_process_peak_rss_bytes",
		Help: "Peak resident set size of the process (VmHWM), in bytes; 0 where the system does not say."},
		func() float64 {
			b, err := os.ReadFile("/proc/self/status")
			if err != nil {
				return 0
			}
			for _, line := range strings.Split(string(b), "\n") {
				if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
					return kb * 1024
				}
			}
			return 0
		})
}

// signInOrAuthenticated serves requests that only sign in (login, acceptInvitation…)
// without a token; everything else must authenticate. The GraphQL guard checks each
// field again, so a request that lies about itself gets nothing.
func signInOrAuthenticated(public, authenticated http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" && r.Method == http.MethodPost && r.Body != nil {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "could not read the request body", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if graph.PublicRequest(body) {
				public.ServeHTTP(w, r)
				return
			}
		}
		authenticated.ServeHTTP(w, r)
	})
}

func newAuth(cfg Config, st *store.Store, log *slog.Logger) (*auth.Keys, *auth.Service, func(), error) {
	var keyOpts []auth.KeyOption
	if cfg.SigningKeyFile != "" {
		keyOpts = append(keyOpts, auth.WithKeyFile(cfg.SigningKeyFile))
	}
	keyOpts = append(keyOpts, auth.WithKeyLogger(log))
	keys := auth.NewKeys(st.Client, keyOpts...)
	cache, err := access.NewCache(context.Background(), st.Client, st.DB, 4096)
	if err != nil {
		return nil, nil, nil, err
	}
	closeAll := func() { _ = cache.Close() }
	failed := func(err error) (*auth.Keys, *auth.Service, func(), error) {
		closeAll()
		return nil, nil, nil, err
	}
	opts := []auth.Option{auth.WithLogger(log), auth.WithCache(cache)}
	if cfg.Issuer != "" {
		opts = append(opts, auth.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, auth.WithAudience(cfg.Audience))
	}
	if cfg.TokenTTL > 0 {
		opts = append(opts, auth.WithTTL(cfg.TokenTTL))
	}
	if strings.TrimSpace(cfg.ExternalIssuers) != "" {
		issuers, err := auth.ParseExternalIssuers(cfg.ExternalIssuers)
		if err != nil {
			return failed(fmt.Errorf("external issuers: %w", err))
		}
		for _, is := range issuers {
			if is.Issuer == cfg.Issuer || (cfg.Issuer == "" && is.Issuer == auth.DefaultIssuer) {
				return failed(fmt.Errorf("external issuer %q is Latchkey's own issuer", is.Issuer))
			}
		}
		v, err := auth.NewExternalVerifier(issuers, auth.WithExternalLogger(log))
		if err != nil {
			return failed(fmt.Errorf("external issuers: %w", err))
		}
		opts = append(opts, auth.WithExternalIssuers(v))
		closeCache := closeAll
		closeAll = func() { v.Close(); closeCache() }
	}
	return keys, auth.NewService(st.Client, keys, opts...), closeAll, nil
}

// Serve runs the server until ctx ends or the process gets SIGINT or SIGTERM, then
// lets in-flight requests finish.
func Serve(ctx context.Context, cfg Config) error {
	log := newLogger(cfg)
	tuneMemory(cfg.MemoryLimitMiB, cfg.GCPercent, log)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, err := openMigrated(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	app, err := NewServer(cfg, st, log)
	if err != nil {
		return err
	}
	defer app.Close()
	if err := app.Keys.Ensure(ctx); err != nil {
		return err
	}
	sender, err := mail.NewSender(st.Client, mail.Config{SMTPURL: cfg.SMTPURL, From: cfg.MailFrom, Logger: log})
	if err != nil {
		return err
	}
	go func() { _ = sender.Run(ctx) }()
	go optimizePeriodically(ctx, st, log)
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           app.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving", "addr", cfg.Addr, "graphiql", "http://localhost"+portOf(cfg.Addr)+"/")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	timeout := cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func portOf(addr string) string {
	if _, port, err := net.SplitHostPort(addr); err == nil {
		return ":" + port
	}
	return addr
}

// withRequestContext gives every request an id (the caller's X-Request-Id when
// sane), echoed in the response and carried in the context for logs and the audit
// log, and puts the client's address in the context, for rate limits: one copy of
// the request for both.
func withRequestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 100 {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		ctx := viewer.WithClientAddr(viewer.WithRequestID(r.Context(), id), auth.RemoteIPKey(r))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func withAccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !log.Enabled(r.Context(), slog.LevelInfo) {
			next.ServeHTTP(w, r) // nothing to log: no recorder, no values boxed for nothing
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		log.InfoContext(r.Context(), "request",
			"method", r.Method, "path", r.URL.Path, "status", rec.status, "bytes", rec.bytes,
			"duration_ms", float64(time.Since(start).Microseconds())/1000,
			"request_id", viewer.RequestID(r.Context()), "remote", r.RemoteAddr)
	})
}

// latencyBuckets (seconds) hold the latency targets `bench` checks (5, 10, 20,
// 50, 500 ms; 1, 2 s), so a p99 read off them says which side of a target it is
// on; doubling buckets could only say "between 4 and 8 ms".
var latencyBuckets = []float64{
	.0005, .00075, .001, .0015, .002, .003, .004, .005, .006, .008, .01, .015, .02, .03, .04, .05, .075,
	.1, .15, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 10, 20,
}

// withMetrics counts requests and their latency by route pattern (never by raw path,
// which would make unbounded label values).
func withMetrics(reg prometheus.Registerer, mux *http.ServeMux, next http.Handler) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_http_requests_total", Help: "HTTP requests by route, method and status.",
	}, []string{"route", "method", "status"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "latchkey_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: latencyBuckets,
	}, []string{"route"})
	reg.MustRegister(requests, latency)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		_, route := mux.Handler(r)
		if route == "" {
			route = "unmatched"
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
		latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// withBodyLimit refuses request bodies over max bytes with 413. The body is read up
// front (it is small by definition) so that a chunked body's size is known before any
// handler starts on it.
func withBodyLimit(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
			if err != nil {
				http.Error(w, "could not read the request body", http.StatusBadRequest)
				return
			}
			if int64(len(body)) > max {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

// optimizePeriodically keeps the store's planner statistics current as data grows.
func optimizePeriodically(ctx context.Context, st *store.Store, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := st.Optimize(ctx); err != nil {
				log.WarnContext(ctx, "optimizing the store", "error", err.Error())
			}
		}
	}
}

// DefaultMemoryLimitMiB is serve's soft limit of the Go runtime's memory. Its heap
// holds tens of MB under the bench at 100k users, yet without a limit the runtime
// keeps what it freed and the whole process peaked at 202–207 MB RSS; with 64 MiB
// it peaked at 181–184 MB, and no operation was slower in those runs (bench at
// 100k users, SQLite).
const DefaultMemoryLimitMiB = 64

// DefaultGCPercent is how far serve lets the Go heap grow past what is live before
// collecting (Go's own default is 100). What a request keeps is small — about 10 MB
// live at 100k users — and an answer such as a user's effective rights with their
// sources makes megabytes of garbage, so at 100 the collector ran every few
// requests; the memory limit bounds the heap whatever this says (bench at 100k
// users, SQLite: effectiveRights 90 -> 112-119 answers/s, can +8%).
const DefaultGCPercent = 400

// tuneMemory sets the Go runtime's soft memory limit, unless GOMEMLIMIT did, and its
// GC percentage, unless GOGC did; 0 leaves either as it is.
func tuneMemory(limitMiB, gcPercent int64, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") == "" && limitMiB > 0 {
		debug.SetMemoryLimit(limitMiB << 20)
		log.Debug("memory limit", "mib", limitMiB)
	}
	if os.Getenv("GOGC") == "" && gcPercent > 0 {
		debug.SetGCPercent(int(gcPercent))
		log.Debug("gc percent", "percent", gcPercent)
	}
}
