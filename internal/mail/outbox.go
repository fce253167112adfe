package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"sync"
	"time"
)

// OutboxCapacity is how many messages the development outbox keeps; older
// ones are dropped so a long-running development server does not grow.
const OutboxCapacity = 500

// Outbox is the development mailer: it keeps the newest messages in memory,
// so a developer can follow emailed links at /dev/outbox without a mail
// server. It never writes them to disk: they name people (a patient's
// portal invitation is addressed to the patient), and the data directory
// holds nothing personal in the clear. A restart empties it. The server
// uses it only outside production (app.New).
type Outbox struct {
	From string
	mu   sync.Mutex
	seq  int
	msgs []outboxMessage // oldest first, at most OutboxCapacity
	now  func() time.Time
}

type outboxMessage struct {
	name string
	raw  []byte
}

// NewOutbox returns an empty Outbox sending as from.
func NewOutbox(from string) *Outbox {
	return &Outbox{From: from, now: time.Now}
}

// Send formats m (refusing header injection as SMTP would) and keeps it as
// <time>-<n>.eml.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	t := o.now()
	raw, err := Format(o.From, m, t)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	name := fmt.Sprintf("%s-%04d.eml", t.UTC().Format("20060102T150405.000000"), o.seq)
	o.msgs = append(o.msgs, outboxMessage{name: name, raw: raw})
	if over := len(o.msgs) - OutboxCapacity; over > 0 {
		o.msgs = append(o.msgs[:0], o.msgs[over:]...)
	}
	return nil
}

// Item is one message in the outbox, decoded.
type Item struct {
	Name    string // the item's id
	To      string
	Subject string
	Date    time.Time
	Text    string
	// ListUnsubscribe and ListUnsubscribePost are the one-click
	// unsubscribe fields of non-transactional mail; "" on other mail.
	ListUnsubscribe     string
	ListUnsubscribePost string
}

// List returns the messages, newest first.
func (o *Outbox) List() ([]Item, error) {
	o.mu.Lock()
	msgs := append([]outboxMessage(nil), o.msgs...)
	o.mu.Unlock()
	out := make([]Item, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- {
		it, err := Parse(msgs[i].name, bytes.NewReader(msgs[i].raw))
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// errNoMessage is an unknown message name; it does not echo the name.
var errNoMessage = errors.New("read outbox message: no such message")

// Read decodes one message by name.
func (o *Outbox) Read(name string) (Item, error) {
	o.mu.Lock()
	var raw []byte
	for _, m := range o.msgs {
		if m.name == name {
			raw = m.raw
			break
		}
	}
	o.mu.Unlock()
	if raw == nil {
		return Item{}, errNoMessage
	}
	return Parse(name, bytes.NewReader(raw))
}

// Parse decodes a message written by Format.
func Parse(name string, r io.Reader) (Item, error) {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return Item{}, fmt.Errorf("parse message: %w", err)
	}
	var br io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		br = quotedprintable.NewReader(br)
	}
	body, err := io.ReadAll(br)
	if err != nil {
		return Item{}, fmt.Errorf("parse message: %w", err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subj = msg.Header.Get("Subject")
	}
	date, _ := msg.Header.Date()
	return Item{Name: name, To: msg.Header.Get("To"), Subject: subj, Date: date,
		Text:            strings.ReplaceAll(string(body), "\r\n", "\n"),
		ListUnsubscribe: msg.Header.Get("List-Unsubscribe"), ListUnsubscribePost: msg.Header.Get("List-Unsubscribe-Post")}, nil
}

// ErrNoRelay is what Unconfigured answers: production has no outbox, so
// mail without an SMTP relay cannot go anywhere.
var ErrNoRelay = errors.New("send mail: no SMTP relay is configured (set -smtp-addr); production servers have no development outbox")

// Unconfigured is the mailer of a production server without an SMTP relay:
// every message fails with ErrNoRelay instead of being kept anywhere.
type Unconfigured struct{}

// Send returns ErrNoRelay.
func (Unconfigured) Send(context.Context, Message) error { return ErrNoRelay }

var _ Mailer = (*Outbox)(nil)
var _ Mailer = (*SMTP)(nil)
var _ Mailer = Unconfigured{}
