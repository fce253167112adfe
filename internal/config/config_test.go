package config

import (
	"flag"
	"strings"
	"testing"
)

func parse(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.Bind(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return &c, c.Validate()
}

func TestDefaultsServeOnLoopback(t *testing.T) {
	c, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DataDir != "./custodia-data" || c.BaseURL != "http://127.0.0.1:8080" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestValidationMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"non-loopback without TLS", []string{"-addr", "0.0.0.0:8080"}, "not a loopback address"},
		{"public IP without TLS", []string{"-addr", "10.1.2.3:443"}, "give -tls-cert and -tls-key"},
		{"cert without key", []string{"-tls-cert", "c.pem"}, "go together"},
		{"bad port", []string{"-addr", "127.0.0.1:http99"}, "port must be a number"},
		{"bad database url", []string{"-database-url", "mysql://x"}, "sqlite:PATH or postgres://"},
		{"bad log level", []string{"-log-level", "loud"}, "want debug, info, warn or error"},
		{"idle too short", []string{"-session-idle", "1s"}, "at least 1m"},
		{"notice sweep too short", []string{"-notice-sweep", "500ms"}, "-notice-sweep 500ms: must be at least 1s"},
		{"bad sender", []string{"-mail-from", "nobody"}, "not an email address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestEnvironmentProvidesDefaults(t *testing.T) {
	t.Setenv("CUSTODIA_ADDR", "[::1]:9090")
	t.Setenv("CUSTODIA_SESSION_IDLE", "soon")
	_, err := parse(t)
	if err == nil || !strings.Contains(err.Error(), "CUSTODIA_SESSION_IDLE") {
		t.Fatalf("want env error, got %v", err)
	}
	t.Setenv("CUSTODIA_SESSION_IDLE", "20m")
	c, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "[::1]:9090" || c.IdleTimeout.Minutes() != 20 {
		t.Fatalf("env not applied: %+v", c)
	}
}

func TestMetricsListenOnlyOnLoopback(t *testing.T) {
	c, err := parse(t)
	if err != nil || c.MetricsAddr != "127.0.0.1:9464" {
		t.Fatalf("default metrics address %q (%v), want 127.0.0.1:9464", c.MetricsAddr, err)
	}
	for _, ok := range []string{"", "[::1]:9100", "localhost:9464"} {
		if c, err := parse(t, "-metrics-addr", ok); err != nil || c.MetricsAddr != ok {
			t.Errorf("-metrics-addr %q: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{"0.0.0.0:9464": "not a loopback address", "10.0.0.5:9464": "not a loopback address", "9464": "want host:port"} {
		if _, err := parse(t, "-metrics-addr", bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("-metrics-addr %q: want an error containing %q, got %v", bad, want, err)
		}
	}
	t.Setenv("CUSTODIA_METRICS_ADDR", "")
	if c, err := parse(t); err != nil || c.MetricsAddr != "" {
		t.Errorf("CUSTODIA_METRICS_ADDR empty: %q %v, want metrics off", c.MetricsAddr, err)
	}
}

func TestAuditWitnessDefaultsBesideTheDataDirectory(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want []string
	}{
		{"default", []string{"-data-dir", "/srv/custodia/data/"}, "", []string{"/srv/custodia/data.audit-witness"}},
		{"flag list", []string{"-audit-witness", "/mnt/worm/a.log, /mnt/other/b.log"}, "", []string{"/mnt/worm/a.log", "/mnt/other/b.log"}},
		{"environment", nil, "/mnt/worm/env.log", []string{"/mnt/worm/env.log"}},
		{"turned off", []string{"-audit-witness", "none"}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CUSTODIA_AUDIT_WITNESS", tc.env)
			c, err := parse(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(c.AuditWitness, "|") != strings.Join(tc.want, "|") || len(c.AuditWitness) != len(tc.want) {
				t.Fatalf("witness %q, want %q", c.AuditWitness, tc.want)
			}
		})
	}
	if _, err := parse(t, "-audit-witness", "a.log,,b.log"); err == nil || !strings.Contains(err.Error(), "-audit-witness") {
		t.Fatalf("empty name in the list: %v", err)
	}
}
