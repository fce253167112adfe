// Package mail sends Custodia's email: verification and reset links and
// invitations. Messages carry at most the recipient's own name and opaque
// links, never PHI. SMTP delivers in production; the development Outbox
// keeps messages in memory (never on disk) for a developer to read.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// Message is one plain-text email.
type Message struct {
	To      string // one address
	Subject string
	Text    string
	// Headers are extra header fields, only those AllowedHeaders names (the
	// one-click unsubscribe of RFC 8058); nil for transactional mail.
	Headers []Header
}

// Mailer delivers messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// validate refuses what could inject headers or is not an address. Errors
// do not echo the address: it is personal data.
func (m Message) validate() error {
	if strings.ContainsAny(m.To, "\r\n") || strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("send mail: line break in a header")
	}
	if _, err := mail.ParseAddress(m.To); err != nil {
		return errors.New("send mail: the recipient is not an email address")
	}
	return validateHeaders(m.Headers)
}

// Format renders m as an RFC 5322 message from from, sent at t. The body is
// quoted-printable UTF-8 so any text survives 7-bit relays.
func Format(from string, m Message, t time.Time) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	if strings.ContainsAny(from, "\r\n") {
		return nil, errors.New("send mail: line break in the sender")
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	var b bytes.Buffer
	domain := "localhost"
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		domain = strings.Trim(from[at+1:], "> ")
	}
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: %s\r\n", m.To)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", m.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", t.UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), domain)
	for _, h := range m.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h.Name, h.Value)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(m.Text, "\n", "\r\n"))); err != nil {
		return nil, fmt.Errorf("encode mail body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode mail body: %w", err)
	}
	return b.Bytes(), nil
}
