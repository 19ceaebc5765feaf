package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"latchkey/ent"
	"latchkey/ent/outboxmessage"
	"latchkey/ent/privacy"
	"latchkey/internal/mail/mailtest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

var bg = context.Background()

// clock is a settable time for a sender.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Now().UTC().Add(time.Second).Truncate(time.Microsecond)}
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// enqueue writes messages in one committed transaction.
func enqueue(t *testing.T, client *ent.Client, msgs ...Message) {
	t.Helper()
	tx, err := client.Tx(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := Enqueue(bg, tx.Client(), m); err != nil {
			_ = tx.Rollback()
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func outbox(t *testing.T, client *ent.Client) []*ent.OutboxMessage {
	t.Helper()
	all, err := client.OutboxMessage.Query().Order(outboxmessage.ByID()).All(privacy.DecisionContext(bg, privacy.Allow))
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func newSender(t *testing.T, client *ent.Client, cfg Config) *Sender {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := NewSender(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var hello = Message{To: "jane@acme.test", Subject: "Hello Jane", Text: "Open https://app.test/invitation?token=abc_DEF-123 now.\n", HTML: "<p>Open <a href=\"https://app.test/invitation?token=abc_DEF-123\">this</a></p>"}

// Delivery over each kind of connection: STARTTLS with AUTH, implicit TLS with
// AUTH, and plain SMTP without either.
func TestSendDueDelivers(t *testing.T) {
	cases := []struct {
		name string
		opts mailtest.Options
	}{
		{"starttls+auth", mailtest.Options{User: "mailer", Password: "p@ss:w/rd"}},
		{"smtps+auth", mailtest.Options{ImplicitTLS: true, User: "mailer", Password: "secret"}},
		{"plain", mailtest.Options{NoTLS: true}},
	}
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				srv := mailtest.Start(t, tc.opts)
				enqueue(t, st.Client, hello)
				s := newSender(t, st.Client, Config{SMTPURL: srv.URL(), From: "Latchkey <no-reply@latchkey.test>", InsecureSkipVerify: true})
				sent, err := s.SendDue(bg)
				if err != nil || sent != 1 {
					t.Fatalf("SendDue = %d, %v; want 1, nil", sent, err)
				}
				got := srv.Wait(t, 1)
				if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "jane@acme.test" || got[0].From != "no-reply@latchkey.test" {
					t.Fatalf("envelope: %+v", got)
				}
				p, err := mailtest.Parse(got[0].Raw)
				if err != nil {
					t.Fatal(err)
				}
				if p.Subject != hello.Subject || !strings.Contains(p.Text, "https://app.test/invitation?token=abc_DEF-123") ||
					!strings.Contains(p.HTML, `href="https://app.test/invitation?token=abc_DEF-123"`) {
					t.Fatalf("message: subject %q text %q html %q", p.Subject, p.Text, p.HTML)
				}
				if from := p.Header.Get("From"); !strings.Contains(from, "no-reply@latchkey.test") {
					t.Fatalf("From header %q", from)
				}
				rows := outbox(t, st.Client)
				last := rows[len(rows)-1]
				if last.SentAt == nil || last.Attempts != 1 || last.LastError != "" {
					t.Fatalf("row after delivery: %+v", last)
				}
				if sent, err := s.SendDue(bg); sent != 0 || err != nil {
					t.Fatalf("second SendDue = %d, %v; want nothing to do", sent, err)
				}
			})
		}
	})
}

// A message enqueued in a transaction that rolls back is never sent.
func TestEnqueueFollowsTheTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		tx, err := st.Client.Tx(bg)
		if err != nil {
			t.Fatal(err)
		}
		if err := Enqueue(bg, tx.Client(), hello); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if rows := outbox(t, st.Client); len(rows) != 0 {
			t.Fatalf("outbox after rollback: %d rows", len(rows))
		}
		// A subject is one line of at most 300 bytes, whatever it is given.
		enqueue(t, st.Client, Message{To: "jane@acme.test", Subject: "Hi\r\nBcc: evil@x.test " + strings.Repeat("é", 200), Text: "x"})
		if subj := outbox(t, st.Client)[0].Subject; strings.ContainsAny(subj, "\r\n") || len(subj) > 300 || !strings.HasPrefix(subj, "Hi Bcc: evil@x.test é") {
			t.Fatalf("subject stored as %q", subj)
		}
		for _, bad := range []Message{
			{To: "not an address", Subject: "x", Text: "x"},
			{To: "Jane <jane@acme.test>", Subject: "x", Text: "x"},
			{To: "jane@acme.test", Subject: "x"},
		} {
			if err := Enqueue(bg, st.Client, bad); err == nil {
				t.Errorf("Enqueue(%+v) = nil, want an error", bad)
			}
		}
	})
}

// Failures are retried with exponential backoff and given up after MaxAttempts; a
// retry that succeeds clears the error.
func TestRetriesWithBackoff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		var mu sync.Mutex
		failing := map[string]bool{"down@acme.test": true, "flaky@acme.test": true}
		srv := mailtest.Start(t, mailtest.Options{NoTLS: true, Reject: func(to string) error {
			mu.Lock()
			defer mu.Unlock()
			if failing[to] {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
			}
			return nil
		}})
		clk := newClock()
		s := newSender(t, st.Client, Config{SMTPURL: srv.URL(), MaxAttempts: 3, Backoff: time.Minute, MaxBackoff: 90 * time.Second})
		s.now = clk.Now
		enqueue(t, st.Client,
			Message{To: "down@acme.test", Subject: "down", Text: "x"},
			Message{To: "flaky@acme.test", Subject: "flaky", Text: "x"})

		steps := []struct {
			name          string
			advance       time.Duration
			heal          bool // flaky@ starts accepting before this step
			wantSent      int
			wantAttempts  [2]int
			wantNextAfter [2]time.Duration // from the step's time; -1: not checked
		}{
			{"first attempt fails", 0, false, 0, [2]int{1, 1}, [2]time.Duration{time.Minute, time.Minute}},
			{"not due yet", 30 * time.Second, false, 0, [2]int{1, 1}, [2]time.Duration{30 * time.Second, 30 * time.Second}},
			{"second attempt: backoff doubles, capped", 30 * time.Second, false, 0, [2]int{2, 2}, [2]time.Duration{90 * time.Second, 90 * time.Second}},
			{"third attempt: one gives up, one succeeds", 90 * time.Second, true, 1, [2]int{3, 3}, [2]time.Duration{-1, -1}},
			{"nothing left", 24 * time.Hour, false, 0, [2]int{3, 3}, [2]time.Duration{-1, -1}},
		}
		for _, step := range steps {
			clk.Add(step.advance)
			if step.heal {
				mu.Lock()
				failing["flaky@acme.test"] = false
				mu.Unlock()
			}
			sent, err := s.SendDue(bg)
			if sent != step.wantSent {
				t.Fatalf("%s: sent %d, want %d (err %v)", step.name, sent, step.wantSent, err)
			}
			rows := outbox(t, st.Client)
			for i, r := range rows {
				if r.Attempts != step.wantAttempts[i] {
					t.Fatalf("%s: %s attempts %d, want %d", step.name, r.To, r.Attempts, step.wantAttempts[i])
				}
				if d := step.wantNextAfter[i]; d >= 0 && !r.NextAttemptAt.Equal(clk.Now().Add(d)) {
					t.Fatalf("%s: %s next attempt %s after now, want %s", step.name, r.To, r.NextAttemptAt.Sub(clk.Now()), d)
				}
			}
		}
		rows := outbox(t, st.Client)
		if down := rows[0]; down.SentAt != nil || !strings.Contains(down.LastError, "451") {
			t.Fatalf("given-up message: sent %v, last error %q", down.SentAt, down.LastError)
		}
		if flaky := rows[1]; flaky.SentAt == nil || flaky.LastError != "" {
			t.Fatalf("retried message: sent %v, last error %q", flaky.SentAt, flaky.LastError)
		}
		if got := srv.Messages(); len(got) != 1 || got[0].To[0] != "flaky@acme.test" {
			t.Fatalf("server received %+v", got)
		}
	})
}

// An unreachable server costs the first message one attempt and leaves the rest
// of the batch untouched.
func TestUnreachableServer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		s := newSender(t, st.Client, Config{SMTPURL: "smtp://" + addr, Timeout: 2 * time.Second})
		enqueue(t, st.Client, hello, hello)
		sent, err := s.SendDue(bg)
		if sent != 0 || err == nil || !strings.Contains(err.Error(), "connecting to the SMTP server") {
			t.Fatalf("SendDue = %d, %v; want 0 and a connection error", sent, err)
		}
		rows := outbox(t, st.Client)
		if rows[0].Attempts != 1 || rows[0].LastError == "" || rows[1].Attempts != 0 {
			t.Fatalf("attempts %d (%q), %d; want 1 (with an error), 0", rows[0].Attempts, rows[0].LastError, rows[1].Attempts)
		}
	})
}

// Several senders on one database deliver each message exactly once.
func TestConcurrentSendersClaimOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := mailtest.Start(t, mailtest.Options{})
		const n = 24 // over STARTTLS
		msgs := make([]Message, n)
		for i := range msgs {
			msgs[i] = Message{To: fmt.Sprintf("u%02d@acme.test", i), Subject: "hi", Text: "x"}
		}
		enqueue(t, st.Client, msgs...)
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			total int
			errs  []error
		)
		for range 4 {
			s := newSender(t, st.Client, Config{SMTPURL: srv.URL(), BatchSize: 10, InsecureSkipVerify: true})
			wg.Go(func() {
				for range 20 {
					sent, err := s.SendDue(bg)
					mu.Lock()
					total += sent
					if err != nil {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		got := srv.Messages()
		seen := map[string]int{}
		for _, m := range got {
			seen[m.To[0]]++
		}
		if total != n || len(got) != n || len(seen) != n {
			t.Fatalf("sent %d, server received %d messages for %d recipients; want %d of each", total, len(got), len(seen), n)
		}
		for _, r := range outbox(t, st.Client) {
			if r.SentAt == nil || r.Attempts != 1 {
				t.Fatalf("message %d: sent %v after %d attempts", r.ID, r.SentAt, r.Attempts)
			}
		}
	})
}

// Without an SMTP URL, each message is logged with its text and marked sent.
func TestWithoutSMTPLogs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		var buf bytes.Buffer
		var mu sync.Mutex
		log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
		s := newSender(t, st.Client, Config{Logger: log})
		enqueue(t, st.Client, hello)
		if sent, err := s.SendDue(bg); sent != 1 || err != nil {
			t.Fatalf("SendDue = %d, %v", sent, err)
		}
		mu.Lock()
		out := buf.String()
		mu.Unlock()
		for _, want := range []string{"level=INFO", "to=jane@acme.test", `subject="Hello Jane"`, "https://app.test/invitation?token=abc_DEF-123"} {
			if !strings.Contains(out, want) {
				t.Fatalf("log lacks %q:\n%s", want, out)
			}
		}
		if rows := outbox(t, st.Client); rows[0].SentAt == nil {
			t.Fatal("logged message not marked sent")
		}
		if sent, _ := s.SendDue(bg); sent != 0 {
			t.Fatalf("logged twice")
		}
	})
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// The server's certificate is verified unless a test says otherwise, over
// STARTTLS as over implicit TLS.
func TestCertificateIsVerified(t *testing.T) {
	st := storetest.SQLite(t)
	for _, implicit := range []bool{false, true} {
		srv := mailtest.Start(t, mailtest.Options{ImplicitTLS: implicit})
		enqueue(t, st.Client, hello)
		s := newSender(t, st.Client, Config{SMTPURL: srv.URL()})
		sent, err := s.SendDue(bg)
		if sent != 0 || err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("implicit TLS %v: SendDue = %d, %v; want a certificate error", implicit, sent, err)
		}
		if len(srv.Messages()) != 0 {
			t.Fatal("delivered over an unverified connection")
		}
	}
}

// Run delivers until its context ends.
func TestRun(t *testing.T) {
	st := storetest.SQLite(t)
	srv := mailtest.Start(t, mailtest.Options{NoTLS: true})
	s := newSender(t, st.Client, Config{SMTPURL: srv.URL(), Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	enqueue(t, st.Client, hello)
	srv.Wait(t, 1)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSenderConfig(t *testing.T) {
	cases := []struct {
		name, url, from, wantErr string
	}{
		{"smtp", "smtp://u:p@mail.example.com", "", ""},
		{"smtps with port", "smtps://mail.example.com:2465", "Ops <ops@example.com>", ""},
		{"scheme", "ftp://mail.example.com", "", "smtp://"},
		{"no host", "smtp://", "", "no host"},
		{"bad port", "smtp://mail.example.com:99999", "", "port"},
		{"bad from", "smtp://mail.example.com", "not an address", "from address"},
		{"unparsable, password kept out", "smtp://u:s3cret@mail example.com", "", "not a valid URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSender(nil, Config{SMTPURL: tc.url, From: tc.from})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("NewSender: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("NewSender error %v, want one containing %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}
