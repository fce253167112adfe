package consent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
)

// Text is one version of the consent wording for a purpose.
type Text struct {
	ID          string
	Purpose     PurposeCode
	Version     int
	Material    bool // a material change: grants on earlier versions stop counting
	Body        string
	PublishedAt time.Time
	PublishedBy string
	ValidUntil  time.Time // zero: no expiry
	NoticeID    string    // the platform privacy notice version in force when published; "" if none
}

// Expired reports whether the version has expired at t.
func (t Text) Expired(at time.Time) bool { return !t.ValidUntil.IsZero() && !at.Before(t.ValidUntil) }

const textColumns = `id, purpose, version, material, body, published_at, published_by, valid_until`

// textRead reads the columns of textColumns and the notice link.
const textRead = textColumns + `, COALESCE(notice_id, '')`

type scanner interface{ Scan(...any) error }

func scanText(r scanner) (Text, error) {
	var t Text
	var material int
	var pub, until int64
	if err := r.Scan(&t.ID, &t.Purpose, &t.Version, &material, &t.Body, &pub, &t.PublishedBy, &until, &t.NoticeID); err != nil {
		return Text{}, err
	}
	t.Material, t.PublishedAt, t.ValidUntil = material == 1, fromMicros(pub), fromMicros(until)
	return t, nil
}

// Seed makes sure every purpose has a first consent text version, built
// from the purpose table. It is idempotent and safe to run from several
// servers at once.
func (s *Service) Seed(ctx context.Context) error {
	now := micros(s.now())
	for _, p := range purposes {
		// NOT EXISTS first: SQLite's trigger against INSERT OR REPLACE
		// would refuse a duplicate before ON CONFLICT could skip it.
		_, err := s.db.Write.ExecContext(ctx, `INSERT INTO consent_texts (`+textColumns+`)
			SELECT $1, $2, 1, 1, $3, $4, '', 0 WHERE NOT EXISTS (SELECT 1 FROM consent_texts WHERE id = $1)
			ON CONFLICT DO NOTHING`,
			"ct_"+string(p.Code)+"_1", string(p.Code), defaultText(p), now)
		if err != nil {
			return fmt.Errorf("seed consent text %s: %w", p.Code, err)
		}
	}
	return nil
}

// Texts returns every version of a purpose's consent text, oldest first.
func (s *Service) Texts(ctx context.Context, purpose PurposeCode) ([]Text, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+textRead+` FROM consent_texts WHERE purpose = $1 ORDER BY version`, string(purpose))
	if err != nil {
		return nil, fmt.Errorf("list consent texts: %w", err)
	}
	defer rows.Close()
	var out []Text
	for rows.Next() {
		t, err := scanText(rows)
		if err != nil {
			return nil, fmt.Errorf("list consent texts: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// CurrentText returns the newest version of a purpose's text published at
// or before at. It may be expired; callers check.
func (s *Service) CurrentText(ctx context.Context, purpose PurposeCode, at time.Time) (Text, error) {
	t, err := scanText(s.db.Read.QueryRowContext(ctx, `SELECT `+textRead+` FROM consent_texts
		WHERE purpose = $1 AND published_at <= $2 ORDER BY version DESC LIMIT 1`, string(purpose), micros(at)))
	if errors.Is(err, sql.ErrNoRows) {
		return Text{}, fmt.Errorf("current consent text for %s: %w", purpose, ErrNotFound)
	}
	if err != nil {
		return Text{}, fmt.Errorf("current consent text: %w", err)
	}
	return t, nil
}

// NewText is a consent text version to publish.
type NewText struct {
	Purpose    PurposeCode
	Body       string
	Material   bool
	ValidUntil time.Time // zero: no expiry
}

// MaxTextBytes bounds a consent text.
const MaxTextBytes = 20000

// mayPublish: consent wording is the practice's legal text, so only the
// privacy officer, an administrator or the platform operator publishes it.
func mayPublish(p *access.Principal) bool {
	if p == nil || p.UserID == "" {
		return false
	}
	return p.HasAny(access.RolePrivacyOfficer, access.RoleAdmin, access.RoleOperator)
}

// PublishText publishes the next version of a purpose's consent text.
// Texts are platform-wide: the version is what a grant refers to.
func (s *Service) PublishText(ctx context.Context, p *access.Principal, in NewText) (Text, error) {
	fields := map[string]string{}
	if _, ok := Lookup(in.Purpose); !ok {
		fields["purpose"] = "Choose one of the listed purposes."
	}
	body := strings.TrimSpace(in.Body)
	switch {
	case body == "":
		fields["body"] = "Enter the consent text."
	case len(body) > MaxTextBytes || !utf8.ValidString(body) || strings.ContainsRune(body, 0):
		fields["body"] = fmt.Sprintf("The text must be valid text of at most %d bytes.", MaxTextBytes)
	}
	now := s.now()
	if !in.ValidUntil.IsZero() && !in.ValidUntil.After(now) {
		fields["valid_until"] = "The expiry must be in the future."
	}
	if len(fields) > 0 {
		return Text{}, &ValidationError{Fields: fields}
	}
	if !mayPublish(p) {
		return Text{}, &DeniedError{Reason: access.DenyRole, Visible: true}
	}
	t := Text{ID: newID("ct_"), Purpose: in.Purpose, Body: body, Material: in.Material,
		PublishedAt: now, PublishedBy: p.UserID, ValidUntil: in.ValidUntil}
	material := 0
	if t.Material {
		material = 1
	}
	until := int64(0)
	if !t.ValidUntil.IsZero() {
		until = micros(t.ValidUntil)
	}
	if _, err := s.appendAudit(ctx, p, audit.Event{Action: "consent.text_publish", ResourceType: "consent_text",
		ResourceID: t.ID, Purpose: string(t.Purpose), Decision: "allow", Reason: string(access.AllowWorkspaceRole), Outcome: "success"}); err != nil {
		return Text{}, err
	}
	noticeID, err := s.noticeAt(ctx, "", now) // consent texts are platform-wide
	if err != nil {
		return Text{}, err
	}
	t.NoticeID = noticeID.String
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM consent_texts WHERE purpose = $1`,
			string(t.Purpose)).Scan(&t.Version); err != nil {
			return fmt.Errorf("next consent text version: %w", err)
		}
		// Publication time never goes backwards within a purpose, so
		// "published at or before t" orders like the version numbers.
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(published_at), 0) FROM consent_texts WHERE purpose = $1`,
			string(t.Purpose)).Scan(&last); err != nil {
			return fmt.Errorf("last consent text publication: %w", err)
		}
		pub := max(micros(t.PublishedAt), last+1)
		t.PublishedAt = fromMicros(pub)
		_, err := tx.ExecContext(ctx, `INSERT INTO consent_texts (`+textColumns+`, notice_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			t.ID, string(t.Purpose), t.Version, material, t.Body, pub, t.PublishedBy, until, noticeID)
		if err != nil {
			return fmt.Errorf("insert consent text: %w", err)
		}
		return nil
	})
	if err != nil {
		return Text{}, err
	}
	return t, nil
}
