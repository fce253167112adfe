// Package outreach sends a workspace's news to its patients: the one kind
// of mail Custodia sends that is not about care, security or the account.
// News goes only to patients whose marketing consent stands at the moment
// their message is sent (asked of the consent ledger per recipient), every
// message carries a one-click unsubscribe (a signed link and the RFC 8058
// headers) that records a withdrawal in the ledger, and every send is
// recorded per recipient and audited. Care and security mail (sign-in,
// resets, invitations, notices) never goes through here and never asks
// about marketing consent.
package outreach

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/ids"
	"github.com/custodia-health/custodia/internal/mail"
)

// Consent is what outreach asks of the consent ledger.
type Consent interface {
	Allows(ctx context.Context, patientID string, purpose consent.PurposeCode, at time.Time, cats ...consent.DataCategory) (consent.Decision, error)
	RecordUnsubscribe(ctx context.Context, patientID string, purpose consent.PurposeCode) (bool, error)
}

// Recipient is a patient's own account mailbox.
type Recipient struct {
	PatientID string
	Name      string // the account holder's name, for the greeting
	Email     string // never logged, stored or audited here
}

// Directory finds patients' mailboxes and workspaces; identity implements
// it (through the app's wiring).
type Directory interface {
	// PatientMailboxes lists each patient of ws with their own account
	// and a confirmed email address.
	PatientMailboxes(ctx context.Context, ws string) ([]Recipient, error)
	WorkspaceName(ctx context.Context, ws string) (string, error)
	PatientWorkspace(ctx context.Context, patientID string) (string, error)
}

// Status is where a campaign is.
type Status string

// The statuses.
const (
	Draft   Status = "draft"
	Sending Status = "sending"
	Done    Status = "done"
)

// Campaign is one news message and its send.
type Campaign struct {
	ID          string
	WorkspaceID string
	Subject     string
	Text        string
	CreatedBy   string
	CreatedAt   time.Time
	Status      Status
	SentBy      string
	StartedAt   time.Time
	FinishedAt  time.Time
	Total       int // patients with a mailbox at send time
	Sent        int
	Failed      int
	Excluded    int // no marketing consent when their turn came
}

// Handled is how many recipients the send has dealt with so far.
func (c Campaign) Handled() int { return c.Sent + c.Failed + c.Excluded }

// Limits of a message.
const (
	MaxSubject = 150
	MaxText    = 20000
)

// Errors.
var (
	ErrNotFound    = errors.New("outreach: no such campaign")
	ErrAlreadySent = errors.New("outreach: this message was already sent")
)

// DeniedError is a refusal by the rule that only a workspace's
// administrators send its news.
type DeniedError struct{}

func (DeniedError) Error() string { return "outreach: only the workspace's administrators send news" }

// ValidationError names each bad field and why, in words fit to show.
type ValidationError struct{ Fields map[string]string }

func (e *ValidationError) Error() string { return "outreach: invalid message" }

// Options configure a Service.
type Options struct {
	BaseURL string // the public https address the unsubscribe link points at
	Log     *slog.Logger
}

// Service is the outreach domain.
type Service struct {
	db      *db.DB
	audit   audit.Appender
	consent Consent
	dir     Directory
	mailer  mail.Mailer
	signer  *Signer
	baseURL string
	log     *slog.Logger
	now     func() time.Time
	wg      sync.WaitGroup
	// beforeEach, for tests, runs before each recipient's consent check.
	beforeEach func(patientID string)
}

// New builds the service.
func New(d *db.DB, a audit.Appender, c Consent, dir Directory, m mail.Mailer, s *Signer, o Options) *Service {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: d, audit: a, consent: c, dir: dir, mailer: m, signer: s,
		baseURL: strings.TrimRight(o.BaseURL, "/"), log: log, now: time.Now}
}

// Wait blocks until every background send has finished.
func (s *Service) Wait() { s.wg.Wait() }

// Signer returns the service's token signer.
func (s *Service) Signer() *Signer { return s.signer }

// UnsubscribeURL is the one-click address for a patient and purpose.
func (s *Service) UnsubscribeURL(patientID string, purpose consent.PurposeCode) string {
	return s.baseURL + "/unsubscribe/" + s.signer.Token(patientID, purpose)
}

func (s *Service) appendAudit(ctx context.Context, p *access.Principal, e audit.Event) error {
	if p != nil {
		e.ActorUserID, e.ActorTokenID, e.ActorRole = p.UserID, p.TokenID, string(p.Role)
		e.OnBehalfOf, e.ClientAddr, e.RequestID = p.OnBehalfOf, p.ClientAddr, p.RequestID
	}
	if _, err := s.audit.Append(ctx, e); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}

// authorize applies the rule (a workspace's admins, and no one else, send
// its news) and audits a refusal.
func (s *Service) authorize(ctx context.Context, p *access.Principal, action, ws, id string) error {
	if p != nil && p.UserID != "" && p.WorkspaceID == ws && ws != "" && p.Has(access.RoleAdmin) {
		return nil
	}
	if err := s.appendAudit(ctx, p, audit.Event{Action: action, ResourceType: "outreach_campaign", ResourceID: id,
		WorkspaceID: ws, Purpose: string(consent.Marketing), Decision: "deny", Reason: "not_workspace_admin", Outcome: "denied"}); err != nil {
		return err
	}
	return DeniedError{}
}

// News is a message an admin writes.
type News struct {
	Subject string
	Text    string
}

func (d *News) validate() map[string]string {
	f := map[string]string{}
	d.Subject = strings.TrimSpace(d.Subject)
	d.Text = strings.TrimSpace(strings.ReplaceAll(d.Text, "\r\n", "\n"))
	switch {
	case d.Subject == "":
		f["subject"] = "Write a subject."
	case utf8.RuneCountInString(d.Subject) > MaxSubject || strings.ContainsAny(d.Subject, "\r\n") || !utf8.ValidString(d.Subject):
		f["subject"] = fmt.Sprintf("The subject must be one line of at most %d characters.", MaxSubject)
	}
	switch {
	case d.Text == "":
		f["text"] = "Write the message."
	case len(d.Text) > MaxText || !utf8.ValidString(d.Text) || strings.ContainsRune(d.Text, 0):
		f["text"] = fmt.Sprintf("The message must be plain text of at most %d characters.", MaxText)
	}
	return f
}

// Audience is what a preview tells the admin.
type Audience struct {
	WithMailbox int // patients with their own account and a confirmed email
	Consenting  int // of those, whose marketing consent stands now
}

// Preview counts who would get news sent now. Each patient's consent is
// asked of the ledger (and so audited, purpose marketing); the real send
// asks again per recipient when their turn comes.
func (s *Service) Preview(ctx context.Context, p *access.Principal, ws string) (Audience, error) {
	if err := s.authorize(ctx, p, "outreach.preview", ws, ""); err != nil {
		return Audience{}, err
	}
	rs, err := s.dir.PatientMailboxes(ctx, ws)
	if err != nil {
		return Audience{}, err
	}
	a := Audience{WithMailbox: len(rs)}
	now := s.now()
	for _, r := range rs {
		d, err := s.consent.Allows(ctx, r.PatientID, consent.Marketing, now, consent.General)
		if err != nil {
			return Audience{}, err
		}
		if d.Allowed {
			a.Consenting++
		}
	}
	return a, s.appendAudit(ctx, p, audit.Event{Action: "outreach.preview", ResourceType: "outreach_campaign", WorkspaceID: ws,
		Purpose: string(consent.Marketing), Decision: "allow", Outcome: "success"})
}

// Compose stores a draft for workspace ws.
func (s *Service) Compose(ctx context.Context, p *access.Principal, ws string, d News) (Campaign, error) {
	if err := s.authorize(ctx, p, "outreach.compose", ws, ""); err != nil {
		return Campaign{}, err
	}
	if f := d.validate(); len(f) > 0 {
		return Campaign{}, &ValidationError{Fields: f}
	}
	c := Campaign{ID: "oc_" + ids.New(), WorkspaceID: ws, Subject: d.Subject, Text: d.Text, CreatedBy: p.UserID,
		CreatedAt: s.now().UTC().Truncate(time.Microsecond), Status: Draft}
	if err := s.appendAudit(ctx, p, audit.Event{Action: "outreach.compose", ResourceType: "outreach_campaign", ResourceID: c.ID,
		WorkspaceID: ws, Purpose: string(consent.Marketing), Decision: "allow", Outcome: "success"}); err != nil {
		return Campaign{}, err
	}
	if _, err := s.db.Write.ExecContext(ctx, `INSERT INTO outreach_campaigns (id, workspace_id, subject, body, created_by, created_at, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.ID, ws, c.Subject, c.Text, c.CreatedBy, c.CreatedAt.UnixMicro(), string(Draft)); err != nil {
		return Campaign{}, fmt.Errorf("store campaign: %w", err)
	}
	return c, nil
}

const campaignCols = `id, workspace_id, subject, body, created_by, created_at, status, sent_by, started_at, finished_at, total, sent, failed, excluded`

func scanCampaign(r interface{ Scan(...any) error }) (Campaign, error) {
	var c Campaign
	var created, started, finished int64
	err := r.Scan(&c.ID, &c.WorkspaceID, &c.Subject, &c.Text, &c.CreatedBy, &created, &c.Status, &c.SentBy, &started, &finished,
		&c.Total, &c.Sent, &c.Failed, &c.Excluded)
	c.CreatedAt = time.UnixMicro(created).UTC()
	if started != 0 {
		c.StartedAt = time.UnixMicro(started).UTC()
	}
	if finished != 0 {
		c.FinishedAt = time.UnixMicro(finished).UTC()
	}
	return c, err
}

// Campaign returns one campaign of workspace ws.
func (s *Service) Campaign(ctx context.Context, p *access.Principal, ws, id string) (Campaign, error) {
	if err := s.authorize(ctx, p, "outreach.read", ws, id); err != nil {
		return Campaign{}, err
	}
	c, err := scanCampaign(s.db.Read.QueryRowContext(ctx, `SELECT `+campaignCols+` FROM outreach_campaigns
		WHERE id = $1 AND workspace_id = $2`, id, ws))
	if errors.Is(err, sql.ErrNoRows) {
		return Campaign{}, ErrNotFound
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("read campaign: %w", err)
	}
	return c, nil
}

// Campaigns lists workspace ws's campaigns, newest first.
func (s *Service) Campaigns(ctx context.Context, p *access.Principal, ws string) ([]Campaign, error) {
	if err := s.authorize(ctx, p, "outreach.read", ws, ""); err != nil {
		return nil, err
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+campaignCols+` FROM outreach_campaigns
		WHERE workspace_id = $1 ORDER BY created_at DESC, id LIMIT 50`, ws)
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	defer rows.Close()
	var out []Campaign
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, fmt.Errorf("list campaigns: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RecipientStatus is one recipient's outcome.
type RecipientStatus struct {
	PatientID string
	Status    string // sent, failed, excluded
	Reason    string // a code
	At        time.Time
}

// Recipients lists a campaign's per-recipient outcomes (ids and codes).
func (s *Service) Recipients(ctx context.Context, p *access.Principal, ws, id string) ([]RecipientStatus, error) {
	if _, err := s.Campaign(ctx, p, ws, id); err != nil {
		return nil, err
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT patient_id, status, reason, at FROM outreach_recipients
		WHERE campaign_id = $1 ORDER BY at, patient_id`, id)
	if err != nil {
		return nil, fmt.Errorf("list recipients: %w", err)
	}
	defer rows.Close()
	var out []RecipientStatus
	for rows.Next() {
		var r RecipientStatus
		var at int64
		if err := rows.Scan(&r.PatientID, &r.Status, &r.Reason, &at); err != nil {
			return nil, fmt.Errorf("list recipients: %w", err)
		}
		r.At = time.UnixMicro(at).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
