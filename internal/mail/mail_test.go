package mail_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/mail"
)

// fakeRelay is a tiny SMTP server on 127.0.0.1 that accepts one message and
// remembers what it was told.
type fakeRelay struct {
	ln   net.Listener
	mu   sync.Mutex
	auth string
	from string
	rcpt string
	data string
	done chan struct{}
}

func startRelay(t *testing.T) *fakeRelay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRelay{ln: ln, done: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go r.serve()
	return r
}

func (r *fakeRelay) serve() {
	defer close(r.done)
	c, err := r.ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	say := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
	say("220 relay.test ESMTP")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		cmd := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		r.mu.Lock()
		switch cmd {
		case "EHLO", "HELO":
			say("250-relay.test")
			say("250 AUTH PLAIN")
		case "AUTH":
			b, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(line, "AUTH PLAIN "))
			r.auth = string(b)
			say("235 ok")
		case "MAIL":
			r.from = line
			say("250 ok")
		case "RCPT":
			r.rcpt = line
			say("250 ok")
		case "DATA":
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := br.ReadString('\n')
				if err != nil || l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			r.data = b.String()
			say("250 queued")
		case "QUIT":
			say("221 bye")
			r.mu.Unlock()
			return
		default:
			say("502 unknown")
		}
		r.mu.Unlock()
	}
}

func TestSMTPDeliversWithAuthToTheRelay(t *testing.T) {
	r := startRelay(t)
	s := &mail.SMTP{Addr: r.ln.Addr().String(), User: "custodia", Password: "relay-secret", From: "custodia@clinic.example", Timeout: 5 * time.Second}
	err := s.Send(context.Background(), mail.Message{To: "ada@clinic.example", Subject: "Confirm your email – Custodia", Text: "Hello Ada,\n\nhttps://custodia.test/verify?token=abc\n"})
	if err != nil {
		t.Fatal(err)
	}
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.auth != "\x00custodia\x00relay-secret" {
		t.Errorf("auth %q", r.auth)
	}
	if !strings.Contains(r.from, "custodia@clinic.example") || !strings.Contains(r.rcpt, "ada@clinic.example") {
		t.Errorf("envelope %q %q", r.from, r.rcpt)
	}
	it, err := mail.Parse("m", strings.NewReader(r.data))
	if err != nil {
		t.Fatal(err)
	}
	if it.Subject != "Confirm your email – Custodia" || !strings.Contains(it.Text, "verify?token=abc") {
		t.Errorf("message %+v", it)
	}
}

func TestSMTPFailsClearlyWhenTheRelayIsDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	s := &mail.SMTP{Addr: addr, From: "custodia@clinic.example", Timeout: 2 * time.Second}
	err := s.Send(context.Background(), mail.Message{To: "ada@clinic.example", Subject: "x", Text: "y"})
	if err == nil || !strings.Contains(err.Error(), "connect to relay") || strings.Contains(err.Error(), "ada@") {
		t.Fatalf("err %v", err)
	}
}

func TestOutboxWritesListsAndReadsMessages(t *testing.T) {
	o, err := mail.NewOutbox(t.TempDir(), "custodia@localhost")
	if err != nil {
		t.Fatal(err)
	}
	long := "https://custodia.test/verify?token=" + strings.Repeat("a", 90)
	for _, to := range []string{"ada@clinic.example", "bo@clinic.example"} {
		if err := o.Send(context.Background(), mail.Message{To: to, Subject: "Hello", Text: "Open:\n" + long + "\n"}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := o.List()
	if err != nil || len(items) != 2 {
		t.Fatalf("list: %v %v", items, err)
	}
	if items[0].To != "bo@clinic.example" || !strings.Contains(items[0].Text, long) {
		t.Fatalf("newest first, link intact: %+v", items[0])
	}
	if _, err := o.Read("../../etc/passwd"); err == nil {
		t.Fatal("read outside the outbox")
	}
}

func TestHeaderInjectionIsRefused(t *testing.T) {
	o, _ := mail.NewOutbox(t.TempDir(), "custodia@localhost")
	for _, m := range []mail.Message{
		{To: "ada@clinic.example\r\nBcc: eve@evil.example", Subject: "x"},
		{To: "ada@clinic.example", Subject: "x\r\nBcc: eve@evil.example"},
		{To: "not an address", Subject: "x"},
	} {
		if err := o.Send(context.Background(), m); err == nil {
			t.Errorf("accepted %q", m.To+m.Subject)
		}
	}
}
