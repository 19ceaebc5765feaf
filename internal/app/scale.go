package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"entgo.io/ent/privacy"

	"latchkey/ent/account"
	"latchkey/ent/user"
	"latchkey/internal/auth"
	"latchkey/internal/bench"
	"latchkey/internal/seed"
	"latchkey/internal/store"
	"latchkey/internal/viewer"
)

type seedArgs struct {
	Account string
	Users   int
	Seed    uint64
}

// Seed fills an account (created if missing) with a realistic organisation of the
// given size and prints what it wrote as JSON; progress lines go to progress.
func Seed(ctx context.Context, cfg Config, args seedArgs, stdout, progress io.Writer) error {
	st, err := openMigrated(ctx, cfg, newLogger(cfg))
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := seed.Run(ctx, st, seed.Options{Account: args.Account, Users: args.Users, Seed: args.Seed, Log: progress})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

type benchArgs struct {
	URL         string
	Token       string
	SCIMToken   string
	Account     string
	Duration    time.Duration
	Concurrency int
	CanRate     float64
	JSON        bool
	NoRawSQL    bool
	Bare        bool
	Ops         []string
}

// Bench drives the server at args.URL and prints the table (or JSON). Without a
// token it signs one for the seeded operator from the database's keys; the same
// database gives the raw-SQL comparison. It never migrates: the database belongs to
// the server under test. With args.Bare it serves the bare stack itself (bare.go)
// and drives that instead.
func Bench(ctx context.Context, cfg Config, args benchArgs, stdout, progress io.Writer) error {
	o := bench.Options{URL: args.URL, Token: args.Token, SCIMToken: args.SCIMToken, Duration: args.Duration,
		Concurrency: args.Concurrency, CanRate: args.CanRate, Ops: args.Ops, Out: stdout, JSON: args.JSON, Progress: progress}
	if args.Bare {
		// The bare stack's stderr is copied into progress from a goroutine of
		// os/exec's when progress is not a file, beside the bench's own lines.
		if progress != nil {
			o.Progress = &lockedWriter{w: progress}
		}
		url, stop, err := startBare(ctx, o.Progress)
		if err != nil {
			return err
		}
		defer stop()
		o.URL, o.Token, o.Bare = url, "bare", true
	} else if args.Token == "" || !args.NoRawSQL {
		log := newLogger(cfg)
		st, err := store.Open(ctx, cfg.Database, store.WithLogger(log))
		if err != nil {
			return fmt.Errorf("opening the server's database (for a token and the raw-SQL comparison; see --token and --no-raw-sql): %w", err)
		}
		defer st.Close()
		if args.Token == "" {
			// The token must outlive the run: every operation runs for the duration,
			// and the bulk ones take longer.
			cfg.TokenTTL = max(cfg.TokenTTL, 20*max(args.Duration, bench.DefaultDuration)+10*time.Minute)
			if o.Token, err = operatorToken(ctx, cfg, st, args.Account); err != nil {
				return err
			}
		}
		// The store decides the bulk operations' target (1 s SQLite, 2 s MySQL).
		o.Dialect = st.Dialect
		if !args.NoRawSQL {
			o.DB = st.DB
		}
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	for _, op := range rep.Ops {
		if op.Errors > 0 {
			return fmt.Errorf("bench: %s had %d failed requests (see the notes)", op.Name, op.Errors)
		}
	}
	return nil
}

// operatorToken signs an access token for the seed's operator in the account.
func operatorToken(ctx context.Context, cfg Config, st *store.Store, accountName string) (string, error) {
	acct, err := st.Client.Account.Query().Where(account.Name(accountName)).Only(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return "", fmt.Errorf("account %q (seed it first, or pass --token): %w", accountName, describe(err))
	}
	sys := viewer.System(ctx, acct.ID, "bench")
	op, err := st.Client.User.Query().Where(user.UserName(seed.Operator)).Only(sys)
	if err != nil {
		return "", fmt.Errorf("the seed's operator %s in account %q (pass --token for another account): %w", seed.Operator, accountName, describe(err))
	}
	_, authn, closeAuth, err := newAuth(cfg, st, newLogger(cfg))
	if err != nil {
		return "", err
	}
	defer closeAuth()
	token, _, err := authn.Issue(ctx, auth.Subject{AccountID: acct.ID, UserID: op.ID})
	return token, err
}
