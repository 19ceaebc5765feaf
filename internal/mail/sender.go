package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"latchkey/ent"
	"latchkey/ent/outboxmessage"
	"latchkey/ent/privacy"
)

// Defaults of Config.
const (
	DefaultFrom        = "Latchkey <no-reply@localhost>"
	DefaultInterval    = 5 * time.Second
	DefaultBatchSize   = 50
	DefaultMaxAttempts = 10
	DefaultBackoff     = 30 * time.Second
	DefaultMaxBackoff  = 6 * time.Hour
	DefaultLease       = 2 * time.Minute
	DefaultTimeout     = 30 * time.Second
)

// Config configures a Sender. Zero fields take the defaults above.
type Config struct {
	// SMTPURL names the server: smtp://[user:pass@]host[:port] (plain SMTP that
	// upgrades with STARTTLS whenever the server offers it; port 587 by default) or
	// smtps://[user:pass@]host[:port] (implicit TLS; port 465 by default). User and
	// password are URL-encoded; with them the sender authenticates with the best
	// mechanism the server offers (no PLAIN or LOGIN over an unencrypted connection).
	// Empty: there is no SMTP server, and each message is logged (at Info, with its
	// text, which carries any link) and marked sent.
	SMTPURL string
	// From is the sender address, e.g. "Latchkey <no-reply@example.com>".
	From string
	// Interval is how often Run polls the outbox.
	Interval time.Duration
	// BatchSize is how many due messages one SendDue looks at.
	BatchSize int
	// MaxAttempts is how many deliveries are tried before the sender gives up on a
	// message (it stays in the outbox with its last error).
	MaxAttempts int
	// Backoff is the delay after the first failed attempt; it doubles with every
	// further failure, up to MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Lease is how long a sender reserves a message it is delivering; another
	// replica takes it over only after that (if the first one died). It must exceed
	// Timeout.
	Lease time.Duration
	// Timeout bounds connecting to the SMTP server and each command.
	Timeout time.Duration
	// InsecureSkipVerify skips verifying the server's certificate. For tests only.
	InsecureSkipVerify bool
	// Logger receives the no-SMTP messages and delivery failures (default slog.Default()).
	Logger *slog.Logger
}

// Sender delivers the outbox. Any number of replicas may run one on the same
// database: a message is claimed with a conditional update before it is sent, so
// each delivery attempt is made by one sender.
type Sender struct {
	client *ent.Client
	cfg    Config
	from   string
	smtp   *gomail.Client // nil: log instead of sending
	log    *slog.Logger
	now    func() time.Time
}

// NewSender returns a sender delivering the outbox of client (not a transaction).
func NewSender(client *ent.Client, cfg Config) (*Sender, error) {
	if cfg.From == "" {
		cfg.From = DefaultFrom
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: from address %q: %w", cfg.From, err)
	}
	setDefault(&cfg.Interval, DefaultInterval)
	setDefault(&cfg.BatchSize, DefaultBatchSize)
	setDefault(&cfg.MaxAttempts, DefaultMaxAttempts)
	setDefault(&cfg.Backoff, DefaultBackoff)
	setDefault(&cfg.MaxBackoff, DefaultMaxBackoff)
	setDefault(&cfg.Timeout, DefaultTimeout)
	setDefault(&cfg.Lease, max(DefaultLease, 2*cfg.Timeout))
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Sender{client: client, cfg: cfg, from: from.String(), log: cfg.Logger, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	if cfg.SMTPURL != "" {
		if s.smtp, err = newSMTPClient(cfg); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// newSMTPClient builds the go-mail client for cfg.SMTPURL.
func newSMTPClient(cfg Config) (*gomail.Client, error) {
	u, err := url.Parse(cfg.SMTPURL)
	if err != nil {
		// url's error quotes the URL, password and all.
		return nil, errors.New("mail: the SMTP URL is not a valid URL")
	}
	var implicitTLS bool
	port := 587
	switch strings.ToLower(u.Scheme) {
	case "smtp":
	case "smtps":
		implicitTLS, port = true, 465
	default:
		return nil, fmt.Errorf("mail: SMTP URL must be smtp://[user:pass@]host[:port] or smtps://..., not %q", u.Scheme+"://...")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("mail: SMTP URL names no host")
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("mail: SMTP URL port %q is not a port", p)
		}
	}
	opts := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(cfg.Timeout),
		gomail.WithTLSConfig(&tls.Config{
			ServerName:         host,
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // tests only, never from the URL
		}),
	}
	if implicitTLS {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if u.User != nil && u.User.Username() != "" {
		pass, _ := u.User.Password()
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()),
			gomail.WithPassword(pass))
	}
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP client: %w", err)
	}
	return c, nil
}

// Run delivers due messages every Interval until ctx is done, then returns nil.
func (s *Sender) Run(ctx context.Context) error {
	mode := "smtp"
	if s.smtp == nil {
		mode = "log (no SMTP URL configured)"
	}
	s.log.InfoContext(ctx, "mail sender started", "mode", mode, "interval", s.cfg.Interval.String())
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		sent, err := s.SendDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "mail delivery failed", "err", err)
		}
		next := s.cfg.Interval
		if sent == s.cfg.BatchSize { // more may be waiting
			next = 0
		}
		timer.Reset(next)
	}
}

// SendDue delivers the messages that are due now (up to BatchSize) and returns how
// many were sent. Failed deliveries are rescheduled with backoff, and the error
// says why they failed; an error with sent > 0 means some got through.
func (s *Sender) SendDue(ctx context.Context) (sent int, err error) {
	allow := privacy.DecisionContext(ctx, privacy.Allow)
	due, err := s.client.OutboxMessage.Query().
		Where(
			outboxmessage.SentAtIsNil(),
			outboxmessage.AttemptsLT(s.cfg.MaxAttempts),
			outboxmessage.NextAttemptAtLTE(s.now()),
		).
		Order(outboxmessage.ByNextAttemptAt(), outboxmessage.ByID()).
		Limit(s.cfg.BatchSize).
		All(allow)
	if err != nil {
		return 0, fmt.Errorf("mail: reading the outbox: %w", err)
	}
	var (
		conn *gosmtp.Client // one connection for the batch, opened when first needed
		errs []error
	)
	defer func() {
		if conn != nil {
			_ = s.smtp.CloseWithSMTPClient(conn)
		}
	}()
	for _, m := range due {
		if ctx.Err() != nil {
			break
		}
		claimed, err := s.claim(allow, m)
		if err != nil {
			return sent, errors.Join(append(errs, err)...)
		}
		if !claimed {
			continue // another sender has it
		}
		var deliverErr error
		permanent := false
		switch {
		case s.smtp == nil:
			s.log.InfoContext(ctx, "mail not sent: no SMTP server is configured",
				"to", m.To, "subject", m.Subject, "text", m.BodyText)
		default:
			var msg *gomail.Msg
			if msg, deliverErr = s.build(m); deliverErr != nil {
				permanent = true
				break
			}
			if conn == nil {
				if conn, deliverErr = s.smtp.DialToSMTPClientWithContext(ctx); deliverErr != nil {
					conn = nil
					deliverErr = fmt.Errorf("connecting to the SMTP server: %w", deliverErr)
					// The server is unreachable: leave the rest of the batch unclaimed.
					if err := s.failed(allow, m, deliverErr, false); err != nil {
						errs = append(errs, err)
					}
					return sent, errors.Join(append(errs, deliverErr)...)
				}
			}
			if deliverErr = s.smtp.SendWithSMTPClient(conn, msg); deliverErr != nil {
				// The session may be unusable now; the next message gets a new one.
				_ = s.smtp.CloseWithSMTPClient(conn)
				conn = nil
			}
		}
		if deliverErr != nil {
			errs = append(errs, fmt.Errorf("message %d to %s: %w", m.ID, m.To, deliverErr))
			if err := s.failed(allow, m, deliverErr, permanent); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := s.client.OutboxMessage.Update().
			Where(outboxmessage.ID(m.ID), outboxmessage.Attempts(m.Attempts+1), outboxmessage.SentAtIsNil()).
			SetSentAt(s.now()).ClearLastError().
			Exec(allow); err != nil {
			errs = append(errs, fmt.Errorf("mail: marking message %d sent: %w", m.ID, err))
			continue
		}
		sent++
	}
	return sent, errors.Join(errs...)
}

// claim reserves m for this sender: it counts the attempt and moves the message's
// next attempt a lease ahead, only if no other sender did so since m was read (the
// attempt count is the version). It reports whether the claim succeeded.
func (s *Sender) claim(ctx context.Context, m *ent.OutboxMessage) (bool, error) {
	now := s.now()
	n, err := s.client.OutboxMessage.Update().
		Where(
			outboxmessage.ID(m.ID),
			outboxmessage.Attempts(m.Attempts),
			outboxmessage.SentAtIsNil(),
			outboxmessage.NextAttemptAtLTE(now),
		).
		AddAttempts(1).
		SetNextAttemptAt(now.Add(s.cfg.Lease)).
		Save(ctx)
	if err != nil {
		return false, fmt.Errorf("mail: claiming message %d: %w", m.ID, err)
	}
	return n == 1, nil
}

// failed records a failed attempt of m (claimed by this sender) and schedules the
// next one, or gives up after MaxAttempts or on a permanent failure.
func (s *Sender) failed(ctx context.Context, m *ent.OutboxMessage, cause error, permanent bool) error {
	attempts := m.Attempts + 1
	upd := s.client.OutboxMessage.Update().
		Where(outboxmessage.ID(m.ID), outboxmessage.Attempts(attempts), outboxmessage.SentAtIsNil()).
		SetLastError(truncate(cause.Error(), 1000))
	if permanent || attempts >= s.cfg.MaxAttempts {
		s.log.ErrorContext(ctx, "mail: giving up on a message", "id", m.ID, "to", m.To,
			"subject", m.Subject, "attempts", attempts, "err", cause)
		// Attempts at the limit keep it out of every later batch.
		upd.SetAttempts(max(attempts, s.cfg.MaxAttempts))
	} else {
		upd.SetNextAttemptAt(s.now().Add(s.backoff(attempts)))
	}
	if err := upd.Exec(ctx); err != nil {
		return fmt.Errorf("mail: recording the failure of message %d: %w", m.ID, err)
	}
	return nil
}

// backoff is the delay after the attempts-th failure: Backoff, doubling, capped.
func (s *Sender) backoff(attempts int) time.Duration {
	d := s.cfg.Backoff
	for i := 1; i < attempts && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

// build turns an outbox message into a MIME message. An error means the message
// can never be sent (a bad address).
func (s *Sender) build(m *ent.OutboxMessage) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return nil, err
	}
	if err := msg.To(m.To); err != nil {
		return nil, err
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.BodyText)
	if m.BodyHTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.BodyHTML)
	}
	return msg, nil
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
