package mail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Outbox is the development mailer: each message becomes an .eml file in a
// directory (DATA_DIR/outbox), so a developer can follow emailed links
// without a mail server. It is never shown to users in production.
type Outbox struct {
	Dir  string
	From string
	mu   sync.Mutex
	seq  int
	now  func() time.Time
}

// NewOutbox creates dir if needed and returns an Outbox writing there.
func NewOutbox(dir, from string) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create outbox: %w", err)
	}
	return &Outbox{Dir: dir, From: from, now: time.Now}, nil
}

// Send writes m as DIR/<time>-<n>.eml, through a temporary file and a
// rename so that a reader never sees half a message.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	t := o.now()
	raw, err := Format(o.From, m, t)
	if err != nil {
		return err
	}
	o.mu.Lock()
	o.seq++
	name := fmt.Sprintf("%s-%04d.eml", t.UTC().Format("20060102T150405.000000"), o.seq)
	o.mu.Unlock()
	tmp := filepath.Join(o.Dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("write outbox message: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(o.Dir, name)); err != nil {
		return fmt.Errorf("write outbox message: %w", err)
	}
	return nil
}

// Item is one message in the outbox, decoded.
type Item struct {
	Name    string // file name, the item's id
	To      string
	Subject string
	Date    time.Time
	Text    string
}

// List returns the messages, newest first.
func (o *Outbox) List() ([]Item, error) {
	entries, err := os.ReadDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	var out []Item
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".eml") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		it, err := o.Read(e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name > out[j].Name })
	return out, nil
}

// Read decodes one message by name.
func (o *Outbox) Read(name string) (Item, error) {
	if name != filepath.Base(name) || !strings.HasSuffix(name, ".eml") || strings.HasPrefix(name, ".") {
		return Item{}, errors.New("read outbox message: bad name")
	}
	f, err := os.Open(filepath.Join(o.Dir, name))
	if err != nil {
		return Item{}, fmt.Errorf("read outbox message: %w", err)
	}
	defer f.Close()
	return Parse(name, f)
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
		Text: strings.ReplaceAll(string(body), "\r\n", "\n")}, nil
}

var _ Mailer = (*Outbox)(nil)
var _ Mailer = (*SMTP)(nil)
