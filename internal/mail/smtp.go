package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"time"
)

// SMTP delivers through a relay. It upgrades to TLS with STARTTLS whenever
// the relay offers it, and authenticates (PLAIN) when User is set. A relay
// that is not on this machine's loopback interface must offer STARTTLS:
// without it Send refuses before any envelope or message content is sent,
// since mail carries links and names that must not cross a network in clear.
// A loopback relay (a local MTA, development, tests) may stay plain.
type SMTP struct {
	Addr     string // host:port
	User     string
	Password string
	From     string
	// TLSConfig is used for STARTTLS; nil means verify the relay's
	// certificate against the system roots under the relay's host name.
	TLSConfig *tls.Config
	Timeout   time.Duration // whole exchange; default 30s

	// loopback decides whether the connected relay is on this machine;
	// nil means isLoopbackRelay. Tests replace it to act as a remote relay.
	loopback func(net.Addr) bool
}

// ErrRelayWithoutTLS is returned when a relay outside this machine does not
// offer STARTTLS; nothing but EHLO and QUIT has been sent to it.
var ErrRelayWithoutTLS = errors.New("send mail: the relay is not on this machine and offers no STARTTLS; refusing to send in clear")

// isLoopbackRelay reports whether a connection's remote address is a
// loopback address (127.0.0.0/8, ::1, or ::ffff:127.x). It looks at the
// address actually connected to, not the configured host name, so a name
// that resolves elsewhere does not pass as local.
func isLoopbackRelay(remote net.Addr) bool {
	var ip net.IP
	switch a := remote.(type) {
	case *net.TCPAddr:
		if a == nil {
			return false
		}
		ip = a.IP
	case nil:
		return false
	default:
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			return false
		}
		ip = net.ParseIP(host)
	}
	return ip != nil && ip.IsLoopback()
}

// Send delivers m.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	body, err := Format(s.From, m, time.Now())
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("send mail: relay address: %w", err)
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("send mail: connect to relay: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("send mail: greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("send mail: hello: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := s.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("send mail: starttls: %w", err)
		}
	} else {
		local := s.loopback
		if local == nil {
			local = isLoopbackRelay
		}
		if !local(conn.RemoteAddr()) {
			_ = c.Quit()
			return ErrRelayWithoutTLS
		}
	}
	if s.User != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("send mail: a user is configured but the relay offers no AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", s.User, s.Password, host)); err != nil {
			return fmt.Errorf("send mail: authenticate: %w", err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return fmt.Errorf("send mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		if pe := permanent("RCPT TO", err); pe != nil {
			return pe
		}
		return fmt.Errorf("send mail: RCPT TO refused") // the reply may echo the address
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("send mail: DATA: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("send mail: write body: %w", err)
	}
	if err := w.Close(); err != nil {
		if pe := permanent("end of data", err); pe != nil {
			return pe
		}
		return fmt.Errorf("send mail: end of data: %w", err)
	}
	return c.Quit()
}
