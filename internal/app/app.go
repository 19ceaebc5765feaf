// Package app is Latchkey's command line, configuration and HTTP wiring. server.go
// calls Main; everything the process does starts here.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"latchkey/graph"
	"latchkey/internal/bench"
	"latchkey/internal/seed"
)

// Config is every setting; each flag has an environment twin (SPEC §6).
type Config struct {
	Addr            string
	Database        string
	LogLevel        string
	LogFormat       string
	SigningKeyFile  string
	Issuer          string
	Audience        string
	TokenTTL        time.Duration
	MaxBodyBytes    int64
	ShutdownTimeout time.Duration
	Limits          graph.Limits
	PublicURL       string
	SMTPURL         string
	MailFrom        string
	InvitationTTL   time.Duration
	RefreshTTL      time.Duration
	// ExternalIssuers is a JSON array of external token issuers (see README).
	ExternalIssuers string
	CORSOrigins     string
	// Pprof serves net/http/pprof under /debug/pprof/ (off by default: it exposes
	// the process's internals to whoever can reach the port).
	Pprof bool
	// MemoryLimitMiB is the soft limit of the Go runtime's memory (GOMEMLIMIT, when
	// set, wins; 0: none).
	MemoryLimitMiB int64
	// GCPercent is the Go runtime's GC percentage (GOGC, when set, wins; 0: Go's).
	GCPercent int64
}

// Main runs the command line with args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := &Config{}
	cmd := command(cfg, stdout)
	// Usage and help go to stderr: stdout carries only a command's result (JSON, a
	// token), so scripts can read it.
	cmd.Writer, cmd.ErrWriter = stderr, stderr
	if err := cmd.Run(ctx, append([]string{"latchkey"}, args...)); err != nil {
		fmt.Fprintln(stderr, "latchkey:", err)
		return 1
	}
	return 0
}

// databaseFlags are the settings every command that touches the database shares.
func databaseFlags(cfg *Config) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "database", Usage: "database URL: sqlite:///path/file.db or mysql://user:password@host:port/dbname (default: SQLite at ./data/latchkey.db)",
			Sources: cli.EnvVars("LATCHKEY_DATABASE"), Destination: &cfg.Database},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error",
			Sources: cli.EnvVars("LATCHKEY_LOG_LEVEL"), Destination: &cfg.LogLevel},
		&cli.StringFlag{Name: "log-format", Value: "json", Usage: "json or text",
			Sources: cli.EnvVars("LATCHKEY_LOG_FORMAT"), Destination: &cfg.LogFormat},
		&cli.StringFlag{Name: "signing-key-file", Usage: "PEM private key (Ed25519 or RSA) to sign tokens with (default: a key generated and kept in the database)",
			Sources: cli.EnvVars("LATCHKEY_SIGNING_KEY_FILE"), Destination: &cfg.SigningKeyFile},
		&cli.StringFlag{Name: "issuer", Value: "latchkey", Usage: "iss of the tokens Latchkey issues",
			Sources: cli.EnvVars("LATCHKEY_ISSUER"), Destination: &cfg.Issuer},
		&cli.StringFlag{Name: "audience", Value: "latchkey", Usage: "aud of the tokens Latchkey issues and accepts",
			Sources: cli.EnvVars("LATCHKEY_AUDIENCE"), Destination: &cfg.Audience},
		&cli.DurationFlag{Name: "token-ttl", Value: 15 * time.Minute, Usage: "lifetime of access tokens",
			Sources: cli.EnvVars("LATCHKEY_TOKEN_TTL"), Destination: &cfg.TokenTTL},
		&cli.StringFlag{Name: "public-url", Value: "http://localhost:8080", Usage: "public address of the frontend, for links in emails (<url>/invitation?token=…)",
			Sources: cli.EnvVars("LATCHKEY_PUBLIC_URL"), Destination: &cfg.PublicURL},
		&cli.StringFlag{Name: "smtp-url", Usage: "smtp://user:pass@host:587 or smtps://…:465 (default: log emails instead of sending them)",
			Sources: cli.EnvVars("LATCHKEY_SMTP_URL"), Destination: &cfg.SMTPURL},
		&cli.StringFlag{Name: "mail-from", Value: "Latchkey <no-reply@localhost>", Usage: "From address of emails",
			Sources: cli.EnvVars("LATCHKEY_MAIL_FROM"), Destination: &cfg.MailFrom},
		&cli.DurationFlag{Name: "invitation-ttl", Value: 7 * 24 * time.Hour, Usage: "how long an invitation link works",
			Sources: cli.EnvVars("LATCHKEY_INVITATION_TTL"), Destination: &cfg.InvitationTTL},
		&cli.DurationFlag{Name: "refresh-ttl", Value: 30 * 24 * time.Hour, Usage: "how long an unused refresh token lasts",
			Sources: cli.EnvVars("LATCHKEY_REFRESH_TTL"), Destination: &cfg.RefreshTTL},
		&cli.StringFlag{Name: "external-issuers", Usage: "JSON array of external token issuers: [{issuer, jwks_url, audience, algorithms, user_claim, account}]",
			Sources: cli.EnvVars("LATCHKEY_EXTERNAL_ISSUERS"), Destination: &cfg.ExternalIssuers},
		&cli.StringFlag{Name: "cors-origins", Usage: "comma-separated origins of SPAs allowed to call the API from a browser",
			Sources: cli.EnvVars("LATCHKEY_CORS_ORIGINS"), Destination: &cfg.CORSOrigins},
	}
}

func serveFlags(cfg *Config) []cli.Flag {
	return append(databaseFlags(cfg),
		&cli.StringFlag{Name: "addr", Value: ":8080", Usage: "address to listen on",
			Sources: cli.EnvVars("LATCHKEY_ADDR"), Destination: &cfg.Addr},
		&cli.Int64Flag{Name: "max-body-bytes", Value: 4 << 20, Usage: "largest request body accepted",
			Sources: cli.EnvVars("LATCHKEY_MAX_BODY_BYTES"), Destination: &cfg.MaxBodyBytes},
		&cli.DurationFlag{Name: "shutdown-timeout", Value: 20 * time.Second, Usage: "how long in-flight requests may finish on SIGTERM",
			Sources: cli.EnvVars("LATCHKEY_SHUTDOWN_TIMEOUT"), Destination: &cfg.ShutdownTimeout},
		&cli.IntFlag{Name: "max-page-size", Value: graph.DefaultLimits.MaxPageSize, Usage: "largest page (first/last) of a connection",
			Sources: cli.EnvVars("LATCHKEY_MAX_PAGE_SIZE"), Destination: &cfg.Limits.MaxPageSize},
		&cli.IntFlag{Name: "default-page-size", Value: graph.DefaultLimits.DefaultPageSize, Usage: "page of a connection asked for without first or last",
			Sources: cli.EnvVars("LATCHKEY_DEFAULT_PAGE_SIZE"), Destination: &cfg.Limits.DefaultPageSize},
		&cli.IntFlag{Name: "max-complexity", Value: graph.DefaultLimits.MaxComplexity, Usage: "largest GraphQL query cost (connections count times their page size)",
			Sources: cli.EnvVars("LATCHKEY_MAX_COMPLEXITY"), Destination: &cfg.Limits.MaxComplexity},
		&cli.IntFlag{Name: "max-depth", Value: graph.DefaultLimits.MaxDepth, Usage: "deepest GraphQL selection nesting",
			Sources: cli.EnvVars("LATCHKEY_MAX_DEPTH"), Destination: &cfg.Limits.MaxDepth},
		&cli.BoolFlag{Name: "pprof", Usage: "serve Go's profiler under /debug/pprof/ (only where the port is private)",
			Sources: cli.EnvVars("LATCHKEY_PPROF"), Destination: &cfg.Pprof},
		&cli.Int64Flag{Name: "memory-limit", Value: DefaultMemoryLimitMiB, Usage: "soft limit in MiB of the Go runtime's memory, beside SQLite's page caches (GOMEMLIMIT wins; 0: none)",
			Sources: cli.EnvVars("LATCHKEY_MEMORY_LIMIT"), Destination: &cfg.MemoryLimitMiB},
		&cli.Int64Flag{Name: "gc-percent", Value: DefaultGCPercent, Usage: "how far in percent the Go heap may grow past what is live before a collection, within the memory limit (GOGC wins; 0: Go's 100)",
			Sources: cli.EnvVars("LATCHKEY_GC_PERCENT"), Destination: &cfg.GCPercent},
	)
}

func command(cfg *Config, stdout io.Writer) *cli.Command {
	var bootstrap bootstrapArgs
	var token tokenArgs
	var seedArgs seedArgs
	var benchArgs benchArgs
	var bareAddr string
	serve := func(ctx context.Context, cmd *cli.Command) error {
		if cmd.Args().Present() {
			return fmt.Errorf("unknown command %q (commands: serve, migrate, bootstrap, rotate-keys, token, seed, bench)", cmd.Args().First())
		}
		return Serve(ctx, *cfg)
	}
	return &cli.Command{
		Name:   "latchkey",
		Usage:  "user administration and access rights server",
		Flags:  serveFlags(cfg),
		Action: serve,
		Commands: []*cli.Command{
			{Name: "serve", Usage: "serve the GraphQL, SCIM and HTTP endpoints (the default)", Flags: serveFlags(cfg), Action: serve},
			{Name: "migrate", Usage: "bring the database schema up to date and exit", Flags: databaseFlags(cfg),
				Action: func(ctx context.Context, _ *cli.Command) error { return Migrate(ctx, *cfg, stdout) }},
			{Name: "bootstrap", Usage: "create an account with its first Admin and print its credentials as JSON",
				Flags: append(databaseFlags(cfg),
					&cli.StringFlag{Name: "account", Required: true, Usage: "name of the account to create", Destination: &bootstrap.Account},
					&cli.StringFlag{Name: "email", Required: true, Usage: "email of the first Admin (also their userName)", Destination: &bootstrap.Email},
					&cli.StringFlag{Name: "password", Usage: "the Admin's password (default: none; they log in by token or invitation)", Destination: &bootstrap.Password},
				),
				Action: func(ctx context.Context, _ *cli.Command) error { return Bootstrap(ctx, *cfg, bootstrap, stdout) }},
			{Name: "rotate-keys", Usage: "make a new token signing key current; older keys stay published until their tokens expire",
				Flags:  databaseFlags(cfg),
				Action: func(ctx context.Context, _ *cli.Command) error { return RotateKeys(ctx, *cfg, stdout) }},
			{Name: "token", Usage: "print a fresh access token for a user (an operator's tool)",
				Flags: append(databaseFlags(cfg),
					&cli.StringFlag{Name: "account", Required: true, Usage: "account name", Destination: &token.Account},
					&cli.StringFlag{Name: "email", Required: true, Usage: "the user's email", Destination: &token.Email},
				),
				Action: func(ctx context.Context, _ *cli.Command) error { return Token(ctx, *cfg, token, stdout) }},
			{Name: "seed", Usage: "fill an account with a realistic organisation (SPEC §5 sizes) to measure; prints what it wrote as JSON",
				Flags: append(databaseFlags(cfg),
					&cli.StringFlag{Name: "account", Value: seed.DefaultAccount, Usage: "account to fill (created if missing; refused if it has more than a few users)", Destination: &seedArgs.Account},
					&cli.IntFlag{Name: "users", Value: 100_000, Usage: "how many users (groups are a twentieth of that; the catalogue has SPEC §5's size)", Destination: &seedArgs.Users},
					&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "random seed: the same seed gives the same account", Destination: &seedArgs.Seed},
				),
				Action: func(ctx context.Context, cmd *cli.Command) error {
					return Seed(ctx, *cfg, seedArgs, stdout, cmd.Root().ErrWriter)
				}},
			{Name: "bench", Usage: "drive a running server over HTTP and print latency and throughput per operation against the targets",
				Flags: append(databaseFlags(cfg),
					&cli.StringFlag{Name: "url", Value: "http://127.0.0.1:8080", Usage: "base URL of the server", Destination: &benchArgs.URL},
					&cli.StringFlag{Name: "token", Usage: "an Admin's bearer token (default: a fresh token for the seed's operator, signed with the database's key)", Destination: &benchArgs.Token},
					&cli.StringFlag{Name: "scim-token", Usage: "a SCIM token (default: one created for the run and revoked after it)", Destination: &benchArgs.SCIMToken},
					&cli.StringFlag{Name: "account", Value: seed.DefaultAccount, Usage: "the seeded account (for the default token)", Destination: &benchArgs.Account},
					&cli.DurationFlag{Name: "duration", Value: bench.DefaultDuration, Usage: "how long each operation runs", Destination: &benchArgs.Duration},
					&cli.IntFlag{Name: "concurrency", Value: bench.DefaultConcurrency, Usage: "concurrent clients for can and canPaced (the other reads use up to 4)", Destination: &benchArgs.Concurrency},
					&cli.FloatFlag{Name: "can-rate", Value: bench.DefaultCanRate, Usage: "checks a second the clients of canPaced send together", Destination: &benchArgs.CanRate},
					&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of a table", Destination: &benchArgs.JSON},
					&cli.BoolFlag{Name: "no-raw-sql", Usage: "skip the comparison with hand-written SQL (when --database is not the server's)", Destination: &benchArgs.NoRawSQL},
					&cli.StringSliceFlag{Name: "ops", Usage: "run only these operations (comma-separated names as in the table, e.g. can,whoCan)", Destination: &benchArgs.Ops},
					&cli.BoolFlag{Name: "bare", Usage: "instead of a server at --url, serve the bare stack (net/http and gqlgen over the schema, can answering true; no database) in a process of its own and run " +
						strings.Join(bench.BareOps, ", ") + " against it", Destination: &benchArgs.Bare},
				),
				Action: func(ctx context.Context, cmd *cli.Command) error {
					return Bench(ctx, *cfg, benchArgs, stdout, cmd.Root().ErrWriter)
				}},
			{Name: bareServerCommand, Usage: "serve the bare stack for bench --bare", Hidden: true,
				Flags:  []cli.Flag{&cli.StringFlag{Name: "addr", Value: "127.0.0.1:0", Usage: "address to listen on", Destination: &bareAddr}},
				Action: func(ctx context.Context, _ *cli.Command) error { return serveBare(ctx, bareAddr, stdout) }},
		},
	}
}

// newLogger writes structured logs to stderr.
func newLogger(cfg Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
