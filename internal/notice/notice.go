// Package notice keeps the privacy notices (one for the platform, one per
// workspace), versioned and never edited, the users' acceptances of them,
// and the registry of third-party processors the notice lists.
//
// A version is marked material or not. When a material version is published,
// every user must accept the current version of that notice before they use
// the service again; a non-material version (a typo, a new address) is shown
// but holds no one. Pending tells the web layer whom to hold.
package notice

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/custodia-health/custodia/internal/ids"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
)

// Errors the service returns.
var (
	ErrNotFound   = errors.New("notice not found")
	ErrNotCurrent = errors.New("this notice version is not the current one for you")
	ErrDenied     = errors.New("not permitted to manage this notice")
)

// ValidationError names each bad input field and why, in words fit to show.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string { return "invalid notice input" }

// Version is one published version of a notice.
type Version struct {
	ID          string
	WorkspaceID string // "" for the platform notice
	Version     int
	Material    bool
	Title       string
	Body        string
	Summary     string // what changed, in a sentence or two
	PublishedAt time.Time
	PublishedBy string
}

// Blocks is the body parsed for display.
func (v Version) Blocks() []Block { return Parse(v.Body) }

// Service is the notice domain.
type Service struct {
	db    *db.DB
	audit audit.Appender
	now   func() time.Time

	// ttl bounds how long a server trusts its cached "latest material
	// version" of a scope; a publication on this server clears it at once,
	// one on another server is seen within ttl.
	ttl      time.Duration
	mu       sync.Mutex
	material map[string]materialEntry // scope → latest material version
	accepted map[string]bool          // user|scope|version: acceptances are immutable
}

type materialEntry struct {
	version int
	at      time.Time
}

// New builds the service.
func New(d *db.DB, a audit.Appender) *Service {
	return &Service{db: d, audit: a, now: time.Now, ttl: 5 * time.Second,
		material: map[string]materialEntry{}, accepted: map[string]bool{}}
}

// SetClock replaces the clock, for tests.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

func newID(prefix string) string { return prefix + ids.New() }

const versionColumns = `id, workspace_id, version, material, title, body, summary, published_at, published_by`

type scanner interface{ Scan(...any) error }

func scanVersion(r scanner) (Version, error) {
	var v Version
	var material int
	var at int64
	if err := r.Scan(&v.ID, &v.WorkspaceID, &v.Version, &material, &v.Title, &v.Body, &v.Summary, &at, &v.PublishedBy); err != nil {
		return Version{}, err
	}
	v.Material, v.PublishedAt = material == 1, time.UnixMicro(at).UTC()
	return v, nil
}

// mayManage says who publishes a notice and keeps the processor registry:
// the platform operator for the platform, a workspace's administrator or
// privacy officer for theirs.
func mayManage(p *access.Principal, workspaceID string) bool {
	if p == nil || p.UserID == "" {
		return false
	}
	if workspaceID == "" {
		return p.Role == access.RoleOperator
	}
	return p.WorkspaceID == workspaceID && p.HasAny(access.RoleAdmin, access.RolePrivacyOfficer)
}

// NewVersion is a notice version to publish.
type NewVersion struct {
	WorkspaceID string // "" for the platform notice
	Title       string
	Body        string
	Summary     string
	Material    bool
}

// Limits on notice text.
const (
	MaxTitle   = 200
	MaxBody    = 200000
	MaxSummary = 2000
)

func badText(s string, max int) bool {
	return len(s) > max || !utf8.ValidString(s) || strings.ContainsRune(s, 0)
}

// Publish publishes the next version of a notice. Published versions are
// never changed: a correction is a new version.
func (s *Service) Publish(ctx context.Context, p *access.Principal, in NewVersion) (Version, error) {
	v := Version{ID: newID("nv_"), WorkspaceID: in.WorkspaceID, Material: in.Material,
		Title: strings.TrimSpace(in.Title), Body: strings.TrimSpace(in.Body), Summary: strings.TrimSpace(in.Summary)}
	f := map[string]string{}
	switch {
	case v.Title == "":
		f["title"] = "Enter a title."
	case badText(v.Title, MaxTitle):
		f["title"] = fmt.Sprintf("The title must be text of at most %d bytes.", MaxTitle)
	}
	switch {
	case v.Body == "":
		f["body"] = "Enter the text of the notice."
	case badText(v.Body, MaxBody):
		f["body"] = fmt.Sprintf("The text must be at most %d bytes of plain text.", MaxBody)
	}
	if _, bad := f["body"]; !bad {
		checkRequiredContents(v.Body, f)
	}
	if badText(v.Summary, MaxSummary) {
		f["summary"] = fmt.Sprintf("The summary must be text of at most %d bytes.", MaxSummary)
	}
	if len(f) > 0 {
		return Version{}, &ValidationError{Fields: f}
	}
	if !mayManage(p, in.WorkspaceID) {
		return Version{}, ErrDenied
	}
	v.PublishedBy = p.UserID
	if _, err := s.appendAudit(ctx, p, audit.Event{Action: "notice.publish", ResourceType: "notice", ResourceID: v.ID,
		WorkspaceID: in.WorkspaceID, Decision: "allow", Reason: string(access.AllowWorkspaceRole), Outcome: "success"}); err != nil {
		return Version{}, err
	}
	material := 0
	if v.Material {
		material = 1
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1, COALESCE(MAX(published_at), 0)
			FROM notice_versions WHERE workspace_id = $1`, v.WorkspaceID).Scan(&v.Version, &last); err != nil {
			return fmt.Errorf("next notice version: %w", err)
		}
		at := max(s.now().UnixMicro(), last+1)
		v.PublishedAt = time.UnixMicro(at).UTC()
		_, err := tx.ExecContext(ctx, `INSERT INTO notice_versions (`+versionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			v.ID, v.WorkspaceID, v.Version, material, v.Title, v.Body, v.Summary, at, v.PublishedBy)
		if err != nil {
			return fmt.Errorf("insert notice version: %w", err)
		}
		return nil
	})
	if err != nil {
		return Version{}, err
	}
	s.mu.Lock()
	delete(s.material, v.WorkspaceID)
	s.mu.Unlock()
	return v, nil
}

// Current returns the newest version of a scope's notice ("" = platform).
func (s *Service) Current(ctx context.Context, workspaceID string) (Version, error) {
	v, err := scanVersion(s.db.Read.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM notice_versions
		WHERE workspace_id = $1 ORDER BY version DESC LIMIT 1`, workspaceID))
	if errors.Is(err, sql.ErrNoRows) {
		return Version{}, ErrNotFound
	}
	if err != nil {
		return Version{}, fmt.Errorf("read current notice: %w", err)
	}
	return v, nil
}

// Get returns one version.
func (s *Service) Get(ctx context.Context, id string) (Version, error) {
	v, err := scanVersion(s.db.Read.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM notice_versions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Version{}, ErrNotFound
	}
	if err != nil {
		return Version{}, fmt.Errorf("read notice: %w", err)
	}
	return v, nil
}

// History returns every version of a scope's notice, newest first.
func (s *Service) History(ctx context.Context, workspaceID string) ([]Version, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+versionColumns+` FROM notice_versions
		WHERE workspace_id = $1 ORDER BY version DESC`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("list notice versions: %w", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("list notice versions: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// latestMaterial returns the newest material version number of a scope, or
// 0 if none was ever published; cached for ttl.
func (s *Service) latestMaterial(ctx context.Context, scope string) (int, error) {
	now := s.now()
	s.mu.Lock()
	e, ok := s.material[scope]
	s.mu.Unlock()
	if ok && now.Sub(e.at) < s.ttl {
		return e.version, nil
	}
	var v int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM notice_versions
		WHERE workspace_id = $1 AND material = 1`, scope).Scan(&v); err != nil {
		return 0, fmt.Errorf("read latest material notice: %w", err)
	}
	s.mu.Lock()
	s.material[scope] = materialEntry{version: v, at: now}
	s.mu.Unlock()
	return v, nil
}

// Pending returns the notices the user must accept before going on: for
// the platform and for the active workspace, the current version of each
// notice whose latest material version the user has not accepted (having
// accepted that version or any later one counts). A notice never published
// as material holds no one.
func (s *Service) Pending(ctx context.Context, userID, workspaceID string) ([]Version, error) {
	scopes := []string{""}
	if workspaceID != "" {
		scopes = append(scopes, workspaceID)
	}
	var out []Version
	for _, scope := range scopes {
		m, err := s.latestMaterial(ctx, scope)
		if err != nil {
			return nil, err
		}
		if m == 0 {
			continue
		}
		key := userID + "|" + scope + "|" + fmt.Sprint(m)
		s.mu.Lock()
		ok := s.accepted[key]
		s.mu.Unlock()
		if ok {
			continue
		}
		var one int
		err = s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM notice_acceptances
			WHERE user_id = $1 AND workspace_id = $2 AND version >= $3 LIMIT 1`, userID, scope, m).Scan(&one)
		switch {
		case err == nil:
			s.mu.Lock()
			s.accepted[key] = true
			s.mu.Unlock()
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("read notice acceptance: %w", err)
		}
		cur, err := s.Current(ctx, scope)
		if err != nil {
			return nil, err
		}
		out = append(out, cur)
	}
	return out, nil
}

// Accept records that the principal accepted a notice version. Only the
// current version of the platform notice or of the principal's active
// workspace can be accepted; accepting twice is harmless.
func (s *Service) Accept(ctx context.Context, p *access.Principal, noticeID string) (Version, error) {
	if p == nil || p.UserID == "" {
		return Version{}, ErrDenied
	}
	v, err := s.Get(ctx, noticeID)
	if err != nil {
		return Version{}, err
	}
	if v.WorkspaceID != "" && v.WorkspaceID != p.WorkspaceID {
		return Version{}, ErrNotFound
	}
	cur, err := s.Current(ctx, v.WorkspaceID)
	if err != nil {
		return Version{}, err
	}
	if cur.ID != v.ID {
		return Version{}, ErrNotCurrent
	}
	if _, err := s.appendAudit(ctx, p, audit.Event{Action: "notice.accept", ResourceType: "notice", ResourceID: v.ID,
		WorkspaceID: v.WorkspaceID, Decision: "allow", Reason: "self", Outcome: "success"}); err != nil {
		return Version{}, err
	}
	_, err = s.db.Write.ExecContext(ctx, `INSERT INTO notice_acceptances (user_id, notice_id, workspace_id, version, accepted_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, p.UserID, v.ID, v.WorkspaceID, v.Version, s.now().UnixMicro())
	if err != nil {
		return Version{}, fmt.Errorf("record notice acceptance: %w", err)
	}
	return v, nil
}

// Acceptance is one recorded acceptance.
type Acceptance struct {
	UserID     string
	NoticeID   string
	Version    int
	AcceptedAt time.Time
}

// Acceptances lists a user's acceptances, newest first.
func (s *Service) Acceptances(ctx context.Context, userID string) ([]Acceptance, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, notice_id, version, accepted_at FROM notice_acceptances
		WHERE user_id = $1 ORDER BY accepted_at DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("list notice acceptances: %w", err)
	}
	defer rows.Close()
	var out []Acceptance
	for rows.Next() {
		var a Acceptance
		var at int64
		if err := rows.Scan(&a.UserID, &a.NoticeID, &a.Version, &at); err != nil {
			return nil, fmt.Errorf("list notice acceptances: %w", err)
		}
		a.AcceptedAt = time.UnixMicro(at).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *Service) appendAudit(ctx context.Context, p *access.Principal, e audit.Event) (audit.Receipt, error) {
	e.ActorUserID, e.ActorTokenID, e.ActorRole = p.UserID, p.TokenID, string(p.Role)
	e.OnBehalfOf, e.ClientAddr, e.RequestID = p.OnBehalfOf, p.ClientAddr, p.RequestID
	r, err := s.audit.Append(ctx, e)
	if err != nil {
		return audit.Receipt{}, fmt.Errorf("append audit entry: %w", err)
	}
	return r, nil
}
