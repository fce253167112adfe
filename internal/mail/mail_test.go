package mail_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/mail"
)

// fakeRelay is a tiny SMTP server on 127.0.0.1 that accepts one message and
// remembers what it was told. With a TLS config it offers STARTTLS.
type fakeRelay struct {
	ln       net.Listener
	starttls *tls.Config
	mu       sync.Mutex
	auth     string
	from     string
	rcpt     string
	data     string
	secure   bool // the envelope arrived over TLS
	commands []string
	done     chan struct{}
}

func startRelay(t *testing.T) *fakeRelay { return startRelayTLS(t, nil) }

func startRelayTLS(t *testing.T, cfg *tls.Config) *fakeRelay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRelay{ln: ln, starttls: cfg, done: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go r.serve()
	return r
}

// relayCert makes a throwaway certificate for 127.0.0.1 and a client config
// that trusts it.
func relayCert(t *testing.T) (server, client *tls.Config) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "relay.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return server, client
}

func (r *fakeRelay) serve() {
	defer close(r.done)
	c, err := r.ln.Accept()
	if err != nil {
		return
	}
	defer func() { c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	say := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
	say("220 relay.test ESMTP")
	secure := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		cmd := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		r.mu.Lock()
		r.commands = append(r.commands, cmd)
		switch cmd {
		case "EHLO", "HELO":
			say("250-relay.test")
			if r.starttls != nil && !secure {
				say("250-STARTTLS")
			}
			say("250 AUTH PLAIN")
		case "STARTTLS":
			if r.starttls == nil || secure {
				say("502 unknown")
				break
			}
			say("220 go ahead")
			tc := tls.Server(c, r.starttls)
			if err := tc.Handshake(); err != nil {
				r.mu.Unlock()
				return
			}
			c, br, secure = tc, bufio.NewReader(tc), true
		case "AUTH":
			b, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(line, "AUTH PLAIN "))
			r.auth = string(b)
			say("235 ok")
		case "MAIL":
			r.from = line
			r.secure = secure
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

func TestOutboxKeepsListsAndReadsMessages(t *testing.T) {
	o := mail.NewOutbox("custodia@localhost")
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
	if got, err := o.Read(items[1].Name); err != nil || got.To != "ada@clinic.example" {
		t.Fatalf("read by name: %+v %v", got, err)
	}
	if _, err := o.Read("../../etc/passwd"); err == nil {
		t.Fatal("read outside the outbox")
	}
}

// The outbox holds messages addressed to patients: it keeps them in memory
// only (nothing in the working directory or anywhere on disk), and no more
// than OutboxCapacity of them.
func TestOutboxWritesNothingToDiskAndKeepsTheNewest(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	o := mail.NewOutbox("custodia@localhost")
	for i := range mail.OutboxCapacity + 3 {
		if err := o.Send(context.Background(), mail.Message{To: fmt.Sprintf("p%d@home.example", i), Subject: "Hello", Text: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := o.List()
	if err != nil || len(items) != mail.OutboxCapacity {
		t.Fatalf("kept %d messages, %v; want %d", len(items), err, mail.OutboxCapacity)
	}
	if items[0].To != fmt.Sprintf("p%d@home.example", mail.OutboxCapacity+2) || items[len(items)-1].To != "p3@home.example" {
		t.Fatalf("kept %s .. %s, want the newest", items[0].To, items[len(items)-1].To)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the outbox wrote %d files", len(entries))
	}
}

func TestUnconfiguredMailerRefusesEveryMessage(t *testing.T) {
	err := mail.Unconfigured{}.Send(context.Background(), mail.Message{To: "pat@home.example", Subject: "x", Text: "y"})
	if !errors.Is(err, mail.ErrNoRelay) || strings.Contains(err.Error(), "pat@") {
		t.Fatalf("got %v", err)
	}
}

func TestHeaderInjectionIsRefused(t *testing.T) {
	o := mail.NewOutbox("custodia@localhost")
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

func TestSMTPUpgradesToTLSWhenTheRelayOffersStartTLS(t *testing.T) {
	srv, cli := relayCert(t)
	r := startRelayTLS(t, srv)
	s := &mail.SMTP{Addr: r.ln.Addr().String(), User: "custodia", Password: "relay-secret", From: "custodia@clinic.example", TLSConfig: cli, Timeout: 5 * time.Second}
	if err := s.Send(context.Background(), mail.Message{To: "ada@clinic.example", Subject: "Hello", Text: "Hi\n"}); err != nil {
		t.Fatal(err)
	}
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.secure || !strings.Contains(r.data, "Hi") || r.auth != "\x00custodia\x00relay-secret" {
		t.Fatalf("secure %v auth %q data %q", r.secure, r.auth, r.data)
	}
}

func TestSMTPRefusesARemoteRelayWithoutStartTLS(t *testing.T) {
	r := startRelay(t) // offers no STARTTLS
	s := &mail.SMTP{Addr: r.ln.Addr().String(), User: "custodia", Password: "relay-secret", From: "custodia@clinic.example", Timeout: 5 * time.Second}
	mail.ActAsRemoteRelay(s)
	err := s.Send(context.Background(), mail.Message{To: "ada@clinic.example", Subject: "Hello", Text: "secret body\n"})
	if !errors.Is(err, mail.ErrRelayWithoutTLS) {
		t.Fatalf("err %v", err)
	}
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.auth != "" || r.from != "" || r.rcpt != "" || r.data != "" {
		t.Fatalf("sent to a plain remote relay: auth %q from %q rcpt %q data %q", r.auth, r.from, r.rcpt, r.data)
	}
	for _, c := range r.commands {
		if c != "EHLO" && c != "HELO" && c != "QUIT" {
			t.Errorf("command %s sent to a plain remote relay", c)
		}
	}
}

func TestSMTPStillUpgradesARemoteRelayThatOffersStartTLS(t *testing.T) {
	srv, cli := relayCert(t)
	r := startRelayTLS(t, srv)
	s := &mail.SMTP{Addr: r.ln.Addr().String(), From: "custodia@clinic.example", TLSConfig: cli, Timeout: 5 * time.Second}
	mail.ActAsRemoteRelay(s)
	if err := s.Send(context.Background(), mail.Message{To: "ada@clinic.example", Subject: "Hello", Text: "Hi\n"}); err != nil {
		t.Fatal(err)
	}
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.secure || !strings.Contains(r.data, "Hi") {
		t.Fatalf("secure %v data %q", r.secure, r.data)
	}
}
