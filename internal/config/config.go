// Package config reads Custodia's settings from flags and CUSTODIA_*
// environment variables and validates them once, at start, with one clear
// message per bad value.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the validated configuration of a server.
type Config struct {
	Addr        string        // listen address, host:port
	MetricsAddr string        // loopback host:port of the Prometheus /metrics listener; empty: none
	DataDir     string        // SQLite file, master key file, local blobs, development outbox
	DatabaseURL string        // empty or sqlite:PATH for SQLite; postgres://... for PostgreSQL
	BaseURL     string        // the address users reach, for links in email
	TLSCert     string        // PEM certificate file; required off loopback
	TLSKey      string        // PEM key file
	MasterKey   string        // base64 or hex; only from the environment, never a flag
	SMTPAddr    string        // host:port of the mail relay; empty means the development outbox
	SMTPUser    string        // SMTP user name
	SMTPPass    string        // only from the environment
	MailFrom    string        // sender address
	LogLevel    string        // debug, info, warn, error
	LogFormat   string        // text or json
	Demo        bool          // load demo data at start
	MaxUpload   int64         // bytes
	IdleTimeout time.Duration // session idle timeout
	Absolute    time.Duration // session absolute lifetime
	// NoticeSweep is how often the server mails due privacy notices
	// (material changes, three-yearly notices of availability).
	NoticeSweep time.Duration
	// AuditWitness lists the files every audit checkpoint is also appended
	// to, outside the database; empty when the operator turned them off.
	AuditWitness []string

	auditWitness string // -audit-witness as given

	envErrs []error
}

// Bind registers the serve flags on fs, with defaults taken from the
// CUSTODIA_* environment. Call Validate after fs.Parse.
func (c *Config) Bind(fs *flag.FlagSet) {
	str := func(p *string, name, env, def, usage string) {
		fs.StringVar(p, name, envOr(env, def), usage+" (env "+env+")")
	}
	str(&c.Addr, "addr", "CUSTODIA_ADDR", "127.0.0.1:8080", "listen address; anything but loopback needs -tls-cert and -tls-key")
	str(&c.MetricsAddr, "metrics-addr", "CUSTODIA_METRICS_ADDR", "127.0.0.1:9464", "loopback address of the Prometheus /metrics listener; empty serves no metrics")
	str(&c.DataDir, "data-dir", "CUSTODIA_DATA_DIR", "./custodia-data", "data directory, created on first run")
	str(&c.DatabaseURL, "database-url", "CUSTODIA_DATABASE_URL", "", "database: empty for SQLite in the data directory, or postgres://...")
	str(&c.BaseURL, "base-url", "CUSTODIA_BASE_URL", "", "public URL used in emailed links (default http(s)://ADDR)")
	str(&c.TLSCert, "tls-cert", "CUSTODIA_TLS_CERT", "", "TLS certificate file (PEM)")
	str(&c.TLSKey, "tls-key", "CUSTODIA_TLS_KEY", "", "TLS private key file (PEM)")
	str(&c.SMTPAddr, "smtp-addr", "CUSTODIA_SMTP_ADDR", "", "SMTP relay host:port; empty writes mail to the development outbox")
	str(&c.SMTPUser, "smtp-user", "CUSTODIA_SMTP_USER", "", "SMTP user; the password comes from CUSTODIA_SMTP_PASSWORD")
	str(&c.MailFrom, "mail-from", "CUSTODIA_MAIL_FROM", "custodia@localhost", "sender address of outgoing mail")
	str(&c.LogLevel, "log-level", "CUSTODIA_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	str(&c.LogFormat, "log-format", "CUSTODIA_LOG_FORMAT", "text", "log format: text or json")
	fs.BoolVar(&c.Demo, "demo", c.envBool("CUSTODIA_DEMO", false), "load demo data (fictional patients) at start (env CUSTODIA_DEMO)")
	fs.Int64Var(&c.MaxUpload, "max-upload", c.envInt("CUSTODIA_MAX_UPLOAD_BYTES", 2<<30), "largest upload in bytes (env CUSTODIA_MAX_UPLOAD_BYTES)")
	fs.DurationVar(&c.IdleTimeout, "session-idle", c.envDuration("CUSTODIA_SESSION_IDLE", 15*time.Minute), "sign a session out after this much inactivity (env CUSTODIA_SESSION_IDLE)")
	fs.DurationVar(&c.Absolute, "session-absolute", c.envDuration("CUSTODIA_SESSION_ABSOLUTE", 12*time.Hour), "sign a session out after this long regardless (env CUSTODIA_SESSION_ABSOLUTE)")
	fs.DurationVar(&c.NoticeSweep, "notice-sweep", c.envDuration("CUSTODIA_NOTICE_SWEEP", 5*time.Minute), "how often due privacy-notice mail (material changes, notices of availability) is sent (env CUSTODIA_NOTICE_SWEEP)")
	str(&c.auditWitness, "audit-witness", "CUSTODIA_AUDIT_WITNESS", "",
		"files (comma-separated) that every audit checkpoint is also appended to, kept apart from the database; default DATA-DIR.audit-witness beside the data directory, none to keep no witness")
	c.MasterKey = os.Getenv("CUSTODIA_MASTER_KEY")
	c.SMTPPass = os.Getenv("CUSTODIA_SMTP_PASSWORD")
}

// Validate checks every value and returns all problems at once, one line
// each, naming the flag and what it expects. It never echoes secrets.
func (c *Config) Validate() error {
	errs := append([]error(nil), c.envErrs...)
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		bad("-addr %q: want host:port, e.g. 127.0.0.1:8080", c.Addr)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		bad("-addr %q: the port must be a number from 0 to 65535", c.Addr)
	}
	if c.MetricsAddr != "" {
		// Metrics are served without sign-in, so only to this machine (a
		// Prometheus agent or a tunnel beside the server).
		mh, mp, err := net.SplitHostPort(c.MetricsAddr)
		if p, perr := strconv.Atoi(mp); err != nil || perr != nil || p < 0 || p > 65535 {
			bad("-metrics-addr %q: want host:port, e.g. 127.0.0.1:9464, or empty for no metrics", c.MetricsAddr)
		} else if !IsLoopback(mh) {
			bad("-metrics-addr %q is not a loopback address: metrics are served without sign-in, so only on 127.0.0.1, ::1 or localhost", c.MetricsAddr)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("-tls-cert and -tls-key go together: give both or neither")
	}
	if err == nil && !IsLoopback(host) && c.TLSCert == "" {
		bad("-addr %q is not a loopback address: Custodia serves plain HTTP only on 127.0.0.1, ::1 or localhost; give -tls-cert and -tls-key to listen on %s", c.Addr, host)
	}
	for _, f := range []struct{ flag, path string }{{"-tls-cert", c.TLSCert}, {"-tls-key", c.TLSKey}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				bad("%s %q: cannot read the file", f.flag, f.path)
			}
		}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("-data-dir must not be empty")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "sqlite:") &&
		!strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		bad("-database-url: must be empty (SQLite in the data directory), sqlite:PATH or postgres://...")
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("-base-url %q: want an absolute http or https URL", c.BaseURL)
		}
	}
	if c.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.SMTPAddr); err != nil {
			bad("-smtp-addr %q: want host:port", c.SMTPAddr)
		}
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		bad("-mail-from %q: not an email address", c.MailFrom)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("-log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("-log-format %q: want text or json", c.LogFormat)
	}
	if c.MaxUpload <= 0 {
		bad("-max-upload must be a positive number of bytes")
	}
	if c.IdleTimeout < time.Minute {
		bad("-session-idle %s: must be at least 1m", c.IdleTimeout)
	}
	if c.Absolute < c.IdleTimeout {
		bad("-session-absolute %s: must be at least -session-idle (%s)", c.Absolute, c.IdleTimeout)
	}
	if c.NoticeSweep == 0 {
		// A Config built in code (tests, embedding) without the flag gets the flag's default.
		c.NoticeSweep = 5 * time.Minute
	}
	if c.NoticeSweep < time.Second {
		bad("-notice-sweep %s: must be at least 1s", c.NoticeSweep)
	}
	c.AuditWitness = nil
	switch w := strings.TrimSpace(c.auditWitness); w {
	case "none":
	case "":
		// Beside the data directory, not in it: a copy or restore of the
		// directory should not carry the witness along with the database.
		c.AuditWitness = []string{filepath.Clean(c.DataDir) + ".audit-witness"}
	default:
		for _, p := range strings.Split(w, ",") {
			if p = strings.TrimSpace(p); p == "" {
				bad("-audit-witness %q: a file name is empty", c.auditWitness)
			} else {
				c.AuditWitness = append(c.AuditWitness, p)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration:\n  %w", errors.Join(errs...))
	}
	if c.BaseURL == "" {
		scheme := "http"
		if c.TLSCert != "" {
			scheme = "https"
		}
		c.BaseURL = scheme + "://" + c.Addr
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	return nil
}

// IsLoopback reports whether host names only this machine.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func (c *Config) envBool(name string, def bool) bool {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		c.envErrs = append(c.envErrs, fmt.Errorf("%s=%q: want true or false", name, v))
		return def
	}
	return b
}

func (c *Config) envInt(name string, def int64) int64 {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		c.envErrs = append(c.envErrs, fmt.Errorf("%s=%q: want a whole number", name, v))
		return def
	}
	return n
}

func (c *Config) envDuration(name string, def time.Duration) time.Duration {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		c.envErrs = append(c.envErrs, fmt.Errorf("%s=%q: want a duration such as 15m or 12h", name, v))
		return def
	}
	return d
}
