// Package app wires Custodia's parts together from a validated configuration.
// The command and the end-to-end tests both build the program through it, so
// what is tested is what runs.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/capture"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/config"
	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/mail"
	"github.com/custodia-health/custodia/internal/media"
	"github.com/custodia-health/custodia/internal/notice"
	"github.com/custodia-health/custodia/internal/outreach"
	"github.com/custodia-health/custodia/internal/patient"
	"github.com/custodia-health/custodia/internal/rehab"
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
	Audit    *audit.Log
	Patients *patient.Service  // patient records
	Cases    *casefile.Service // cases on patients
	Media    *media.Service    // imaging and models on cases
	Rehab    *rehab.Service    // remote rehabilitation
	Consent  *consent.Service  // consent per purpose
	Captures *capture.Service  // patients' own 3D captures and their doctors
	Notices  *notice.Service   // privacy notices and the processor registry
	Outreach *outreach.Service // the workspace's news to patients
	// Outbox is the development mail outbox (in memory), nil in production
	// and when an SMTP relay is configured.
	Outbox *mail.Outbox
	// NoticeDelivery mails privacy notices to the people they apply to;
	// StartNoticeDelivery runs its sweep.
	NoticeDelivery *notice.Delivery
	mailer         mail.Mailer

	janitor sync.WaitGroup // housekeeping started by StartJanitor
	Handler http.Handler
	Metrics http.Handler // Prometheus /metrics, for the loopback metrics listener only
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
	// A key created in this run that has wrapped nothing yet is removed when
	// the start fails here, so a failed first start leaves no master key
	// behind for the next start to take for the data's own.
	unused := func(err error) error {
		if created {
			_ = os.Remove(filepath.Join(cfg.DataDir, keys.MasterKeyFile))
		}
		return err
	}
	d, err := db.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, unused(err)
	}
	blobs, err := blob.NewLocal(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		d.Close()
		return nil, unused(err)
	}
	a := &App{Config: cfg, Log: log, DB: d, Keys: keys.NewKeyring(d, master), Blobs: blobs}
	if err := a.Keys.VerifyMaster(ctx); err != nil {
		d.Close()
		return nil, unused(fmt.Errorf("check master key: %w", err))
	}
	signer, err := AuditSigner(ctx, a.Keys)
	if err != nil {
		d.Close()
		return nil, err
	}
	if a.Audit, err = audit.Open(ctx, d, signer, audit.Options{Logger: log, Witness: cfg.AuditWitness}); err != nil {
		d.Close()
		return nil, fmt.Errorf("%w (the audit witness files are set with -audit-witness)", err)
	}
	deps, err := a.identity(ctx, cfg, log)
	if err != nil {
		a.Audit.Close()
		d.Close()
		return nil, err
	}
	deps.Audit = a.Audit
	deps.ActorNames = a.Identity.DisplayNames
	a.Notices = notice.New(d, a.serviceAudit())
	deps.Notices = a.Notices
	a.NoticeDelivery = a.noticeDelivery()
	deps.NoticeDelivery = a.NoticeDelivery
	deps.Records = a.records(log)
	a.Rehab = rehab.NewService(d, a.Keys, a.serviceAudit(), rehab.DBCareTeam{DB: d}, rehab.Options{Portal: rehabPortal{a}})
	deps.Rehab = a.Rehab
	a.Media = a.mediaService()
	a.Captures = a.captureService(a.Media)
	deps.Media, deps.Captures = a.Media, a.Captures
	if a.Consent, err = a.consentService(ctx); err != nil {
		a.Audit.Close()
		d.Close()
		return nil, err
	}
	deps.Consent = a.Consent
	if a.Outreach, err = a.outreachService(ctx); err != nil {
		a.Audit.Close()
		d.Close()
		return nil, err
	}
	deps.Outreach = a.Outreach
	srv, err := web.New(deps)
	if err != nil {
		a.Audit.Close()
		d.Close()
		return nil, err
	}
	a.Handler, a.Metrics = srv, srv.MetricsHandler()
	return a, nil
}

// identity builds the mailer and the identity service. Mail goes to the SMTP
// relay when one is configured. Without one, outside production (no TLS, no
// https base URL) it goes to the development outbox, kept in memory and
// shown at /dev/outbox only to browsers on this machine; in production it
// fails (mail.Unconfigured), because messages name people and must be
// neither lost silently nor kept in the data directory.
func (a *App) identity(ctx context.Context, cfg *config.Config, log *slog.Logger) (web.Deps, error) {
	deps := web.Deps{DB: a.DB, Log: log, Version: Version, BaseURL: cfg.BaseURL}
	var mailer mail.Mailer
	production := cfg.TLSCert != "" || strings.HasPrefix(cfg.BaseURL, "https://")
	switch {
	case cfg.SMTPAddr != "":
		mailer = &mail.SMTP{Addr: cfg.SMTPAddr, User: cfg.SMTPUser, Password: cfg.SMTPPass, From: cfg.MailFrom}
	case production:
		log.Warn("no SMTP relay is configured: invitations, confirmations and password resets cannot be mailed; set -smtp-addr")
		mailer = mail.Unconfigured{}
	default:
		a.Outbox = mail.NewOutbox(cfg.MailFrom)
		mailer, deps.Outbox = a.Outbox, a.Outbox
	}
	// Every account's email and name are sealed with the platform's account
	// key; rows from before migration 0120 are sealed now, before any
	// request can read them.
	acct, err := a.Keys.AccountKey(ctx)
	if err != nil {
		return deps, err
	}
	// TOTP secrets are sealed with a secret derived from the key hierarchy,
	// so rotating the master key does not force users to re-enrol.
	key, err := a.Keys.SystemSecret(ctx, "totp")
	if err != nil {
		return deps, err
	}
	svc, err := identity.New(a.DB, mailer, a.serviceAudit(), identity.Config{BaseURL: cfg.BaseURL,
		IdleTimeout: cfg.IdleTimeout, Absolute: cfg.Absolute, SealingKey: key, AccountKey: acct, Log: log,
		PatientWorkspace: a.patientWorkspace})
	if err != nil {
		return deps, err
	}
	if n, err := svc.SealAccounts(ctx); err != nil {
		return deps, err
	} else if n > 0 {
		log.Info("sealed account emails and names stored before migration 0120", "rows", n)
		// The plaintext is overwritten (secure_delete zeroes freed cells),
		// but SQLite's old pages stay in the database file until the WAL is
		// checkpointed: copy it back now and empty it.
		if a.DB.Dialect.Name == db.SQLite.Name {
			if _, err := a.DB.Write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				return deps, fmt.Errorf("checkpoint after sealing accounts: %w", err)
			}
		}
	}
	a.Identity, deps.Identity, a.mailer = svc, svc, mailer
	return deps, nil
}

// Close waits for outgoing mail, flushes the audit log (its final
// checkpoint) and releases the stores. Audit entries are never deleted by
// the application: HIPAA asks for six years of records to answer
// accountings, and retention here is "forever" until an operator archives
// the database.
func (a *App) Close() error {
	a.janitor.Wait()
	if a.Outreach != nil {
		a.Outreach.Wait()
	}
	if a.Identity != nil {
		a.Identity.Wait()
	}
	err := a.Audit.Close()
	return errors.Join(err, a.DB.Close())
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

// serviceAudit is the audit log as the domain services see it: an allow
// entry they append for a PHI request is that request's receipt on the web
// layer's guard (web.AuditReceipts), so a route whose service forgot to
// audit cannot answer with data.
func (a *App) serviceAudit() audit.Appender { return web.AuditReceipts(a.Audit) }
