// Package mail sends Latchkey's emails (invitations, password resets) through a
// transactional outbox: Enqueue writes the message in the transaction of the change
// that sends it, so mail goes out only if that change commits, and a Sender on any
// replica delivers it over SMTP with retries.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"latchkey/ent"
	"latchkey/ent/privacy"
	"latchkey/internal/problem"
)

// Message is one email to one recipient. Text is required (it is what the no-SMTP
// mode logs); HTML, when set, is sent as an alternative.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Enqueue writes m to the outbox on client — the caller's transaction, so that the
// message is sent only if the change that sends it commits. It is due at once.
func Enqueue(ctx context.Context, client *ent.Client, m Message) error {
	to := strings.TrimSpace(m.To)
	if a, err := mail.ParseAddress(to); err != nil || a.Address != to {
		return problem.BadInput("email", "%q is not a valid email address", m.To)
	}
	if strings.TrimSpace(m.Text) == "" {
		return errors.New("mail: a message needs a text body")
	}
	// The outbox is global (it belongs to no account); only the system writes it.
	// A subject is one header line, at most 300 bytes.
	subject := truncate(strings.Join(strings.Fields(m.Subject), " "), 300)
	allow := privacy.DecisionContext(ctx, privacy.Allow)
	create := client.OutboxMessage.Create().
		SetTo(to).
		SetSubject(subject).
		SetBodyText(m.Text).
		SetNextAttemptAt(time.Now().UTC().Truncate(time.Microsecond))
	if m.HTML != "" {
		create.SetBodyHTML(m.HTML)
	}
	if err := create.Exec(allow); err != nil {
		return fmt.Errorf("mail: enqueue: %w", err)
	}
	return nil
}
