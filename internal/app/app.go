// Package app wires Custodia's parts together from a validated configuration.
// The command and the end-to-end tests both build the program through it, so
// what is tested is what runs.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/config"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/mail"
	"github.com/custodia-health/custodia/internal/patient"
	"github.com/custodia-health/custodia/internal/web"
)

// Version is set at build time with -ldflags "-X .../internal/app.Version=...".
var Version = "dev"

// App is a built program: its stores and its HTTP handler.
type App struct {
	Config   *config.Config
	Log      *slog.Logger
	DB       *db.DB
	Keys     *keys.Keyring
	Blobs    blob.Store
	Identity *identity.Service
	Audit    *audit.Log        // the tamper-evident audit log
	Patients *patient.Service  // patient records
	Cases    *casefile.Service // cases on patients
	Handler  http.Handler
}

// New opens the data directory, the database (applying migrations) and the
// key hierarchy, and builds the HTTP handler.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*App, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	master, created, err := keys.LoadOrCreateMaster(cfg.DataDir, cfg.MasterKey)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("created a new master key: back it up now and store it apart from the data; without it nothing in this data directory can be read",
			"file", filepath.Join(cfg.DataDir, "master.key"))
	}
	d, err := db.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	blobs, err := blob.NewLocal(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		d.Close()
		return nil, err
	}
	a := &App{Config: cfg, Log: log, DB: d, Keys: keys.NewKeyring(d, master), Blobs: blobs}
	if err := a.Keys.VerifyMaster(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("check master key: %w", err)
	}
	deps, err := a.identity(ctx, cfg, log)
	if err != nil {
		d.Close()
		return nil, err
	}
	if deps.Records, err = a.records(ctx, log); err != nil {
		d.Close()
		return nil, err
	}
	srv, err := web.New(deps)
	if err != nil {
		d.Close()
		return nil, err
	}
	a.Handler = srv
	return a, nil
}

// identity builds the mailer and the identity service. Mail goes to the SMTP
// relay when one is configured, else to DATA_DIR/outbox, which the web UI
// shows at /dev/outbox only outside production (no TLS, no https base URL).
func (a *App) identity(ctx context.Context, cfg *config.Config, log *slog.Logger) (web.Deps, error) {
	deps := web.Deps{DB: a.DB, Log: log, Version: Version, BaseURL: cfg.BaseURL}
	var mailer mail.Mailer
	if cfg.SMTPAddr != "" {
		mailer = &mail.SMTP{Addr: cfg.SMTPAddr, User: cfg.SMTPUser, Password: cfg.SMTPPass, From: cfg.MailFrom}
	} else {
		ob, err := mail.NewOutbox(filepath.Join(cfg.DataDir, "outbox"), cfg.MailFrom)
		if err != nil {
			return deps, err
		}
		mailer = ob
		production := cfg.TLSCert != "" || strings.HasPrefix(cfg.BaseURL, "https://")
		if !production {
			deps.Outbox = ob
		}
	}
	// TOTP secrets are sealed with a secret derived from the key hierarchy,
	// so rotating the master key does not force users to re-enrol.
	key, err := a.Keys.SystemSecret(ctx, "totp")
	if err != nil {
		return deps, err
	}
	svc, err := identity.New(a.DB, mailer, logAppender{log}, identity.Config{BaseURL: cfg.BaseURL,
		IdleTimeout: cfg.IdleTimeout, Absolute: cfg.Absolute, SealingKey: key, Log: log})
	if err != nil {
		return deps, err
	}
	a.Identity, deps.Identity = svc, svc
	return deps, nil
}

// logAppender records authentication events as log lines (ids and codes
// only) until the audit log (internal/audit, in progress) is wired in its
// place. It returns no receipt, so it can never unlock PHI.
type logAppender struct{ log *slog.Logger }

func (l logAppender) Append(ctx context.Context, e audit.Event) (audit.Receipt, error) {
	l.log.LogAttrs(ctx, slog.LevelInfo, "auth event", slog.String("action", e.Action), slog.String("outcome", e.Outcome),
		slog.String("actor", e.ActorUserID), slog.String("resource", e.ResourceID), slog.String("workspace", e.WorkspaceID),
		slog.String("reason", e.Reason), slog.String("request_id", e.RequestID))
	return audit.Receipt{}, nil
}

// Close waits for outgoing mail and releases the stores.
func (a *App) Close() error {
	if a.Identity != nil {
		a.Identity.Wait()
	}
	if a.Audit != nil {
		// Flushes waiting entries and writes the final checkpoint.
		if err := a.Audit.Close(); err != nil {
			a.Log.Error("close audit log", "err", err.Error())
		}
	}
	return a.DB.Close()
}

// NewLogger builds the structured logger. Log lines carry ids, route patterns
// and codes; PHI never goes to a logger.
func NewLogger(cfg *config.Config, w *os.File) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
