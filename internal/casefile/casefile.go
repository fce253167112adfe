// Package casefile keeps the cases on a patient: title, date (usually of
// surgery), status and notes, with every edit kept as a revision; comments
// and annotations that are appended, never overwritten; collaborating
// doctors, possibly from other practices; and what is shared with the
// patient. All PHI text is sealed with the patient's key, and every access
// goes through the access policy and the audit log (patient.Gate).
package casefile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/patient"
)

// Statuses a case may have.
const (
	StatusOpen   = "open"
	StatusClosed = "closed"
)

// Service is the case service.
type Service struct {
	db   *db.DB
	keys *keys.Keyring
	gate *patient.Gate
	now  func() time.Time
}

// New returns a case service sharing the patient service's keyring and gate.
func New(d *db.DB, patients *patient.Service, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: d, keys: patients.Keys(), gate: patients.Gate(), now: now}
}

// Body is the sealed part of a case.
type Body struct {
	Title string `json:"title"`
	Date  string `json:"date,omitempty"` // YYYY-MM-DD, usually the date of surgery
	Notes string `json:"notes,omitempty"`
}

// Case is a case as one principal may see it. For a patient (or their
// representative) Limited is true: Notes only if shared, and no comments,
// collaborators or history.
type Case struct {
	ID          string
	WorkspaceID string
	PatientID   string
	Status      string
	Shared      bool // the summary (title, date, status) is shared with the patient
	NotesShared bool // the notes are shared too
	Version     int
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Body
	Limited       bool
	BreakGlass    bool
	Comments      []Comment
	Collaborators []Collaborator
}

// Input is a new case or an edit. On an edit, nil fields stay as they are.
type Input struct {
	Title  *string
	Date   *string
	Status *string
	Notes  *string
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func validate(b Body, status string) error {
	f := map[string]string{}
	if strings.TrimSpace(b.Title) == "" {
		f["title"] = "is required"
	} else if utf8.RuneCountInString(b.Title) > 200 {
		f["title"] = "must be at most 200 characters"
	} else if strings.IndexFunc(b.Title, unicode.IsControl) >= 0 {
		f["title"] = "must be one line without control characters"
	}
	if b.Date != "" {
		if _, err := time.Parse("2006-01-02", b.Date); err != nil {
			f["date"] = "must be a real date written YYYY-MM-DD"
		}
	}
	if utf8.RuneCountInString(b.Notes) > 100_000 {
		f["notes"] = "must be at most 100,000 characters"
	}
	if !utf8.ValidString(b.Notes) {
		f["notes"] = "must be text"
	}
	if status != StatusOpen && status != StatusClosed {
		f["status"] = "must be open or closed"
	}
	if len(f) > 0 {
		return &patient.InvalidError{Fields: f}
	}
	return nil
}

// caseRow is a cases row with p's relationship facts.
type caseRow struct {
	id, workspaceID, patientID, status, createdBy string
	shared, notesShared                           bool
	version                                       int
	body                                          []byte
	createdAt, updatedAt                          int64
	careTeam, collab, glass                       bool
}

func (r *caseRow) resource() access.Resource {
	return access.Resource{Kind: access.KindCase, WorkspaceID: r.workspaceID, PatientID: r.patientID,
		CareTeam: r.careTeam, Collaborator: r.collab, Shared: r.shared, BreakGlassOn: r.glass}
}

func userOf(p *access.Principal) string {
	if p == nil {
		return ""
	}
	return p.UserID
}

func (s *Service) loadCase(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, p *access.Principal, id string) (*caseRow, error) {
	var r caseRow
	err := q.QueryRowContext(ctx, `
		SELECT c.id, c.workspace_id, c.patient_id, c.status, c.shared, c.notes_shared, c.version, c.body, c.created_by, c.created_at, c.updated_at,
		  EXISTS (SELECT 1 FROM care_team t WHERE t.patient_id = c.patient_id AND t.user_id = $2 AND t.removed_at IS NULL),
		  EXISTS (SELECT 1 FROM case_collaborators x WHERE x.case_id = c.id AND x.user_id = $2 AND x.removed_at IS NULL),
		  EXISTS (SELECT 1 FROM break_glass_grants g WHERE g.patient_id = c.patient_id AND g.user_id = $2 AND g.expires_at > $3)
		FROM cases c WHERE c.id = $1`, id, userOf(p), s.now().UnixMicro()).
		Scan(&r.id, &r.workspaceID, &r.patientID, &r.status, &r.shared, &r.notesShared, &r.version, &r.body, &r.createdBy, &r.createdAt, &r.updatedAt,
			&r.careTeam, &r.collab, &r.glass)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patient.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load case: %w", err)
	}
	return &r, nil
}

func caseCheck(a access.Action, auditAction string, r *caseRow) patient.Check {
	return patient.Check{Action: a, AuditAction: auditAction, Resource: r.resource(), ResourceType: "case", ResourceID: r.id}
}

// pass loads the case and runs the gate; a missing id is audited too.
func (s *Service) pass(ctx context.Context, p *access.Principal, id string, a access.Action, auditAction string) (*caseRow, audit.Receipt, access.Decision, error) {
	r, err := s.loadCase(ctx, s.db.Read, p, id)
	if errors.Is(err, patient.ErrNotFound) {
		c := patient.Check{Action: a, AuditAction: auditAction, ResourceType: "case", ResourceID: id}
		return nil, audit.Receipt{}, access.Decision{}, s.gate.Refuse(ctx, p, c, patient.ReasonNotFound, err)
	}
	if err != nil {
		return nil, audit.Receipt{}, access.Decision{}, err
	}
	rc, d, err := s.gate.Pass(ctx, p, caseCheck(a, auditAction, r))
	return r, rc, d, err
}

const tableCases = "cases"

// Create opens a case on a patient.
func (s *Service) Create(ctx context.Context, p *access.Principal, patientID string, in Input) (*Case, error) {
	b := Body{Title: strings.TrimSpace(str(in.Title)), Date: strings.TrimSpace(str(in.Date)), Notes: str(in.Notes)}
	status := StatusOpen
	if in.Status != nil {
		status = *in.Status
	}
	if err := validate(b, status); err != nil {
		return nil, err
	}
	pr, err := s.patientFacts(ctx, p, patientID)
	if err != nil {
		if errors.Is(err, patient.ErrNotFound) {
			c := patient.Check{Action: access.CaseCreate, ResourceType: "patient", ResourceID: patientID}
			return nil, s.gate.Refuse(ctx, p, c, patient.ReasonNotFound, err)
		}
		return nil, err
	}
	pr.Kind = access.KindCase
	id := patient.NewID()
	c := patient.Check{Action: access.CaseCreate, Resource: pr, ResourceType: "case", ResourceID: id}
	_, d, err := s.gate.Pass(ctx, p, c)
	if err != nil {
		return nil, err
	}
	now := s.now()
	cs := &Case{ID: id, WorkspaceID: pr.WorkspaceID, PatientID: patientID, Status: status, Version: 1, CreatedBy: p.UserID,
		CreatedAt: now, UpdatedAt: now, Body: b, BreakGlass: d.BreakGlass}
	k, err := s.keys.PatientKey(ctx, pr.WorkspaceID, patientID)
	if err != nil {
		return nil, fmt.Errorf("patient key: %w", err)
	}
	body, err := patient.Seal(k, b, tableCases, id, "body")
	if err != nil {
		return nil, err
	}
	rev, err := patient.Seal(k, b, "case_revisions", revRow(id, 1), "body")
	if err != nil {
		return nil, err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO cases (id, workspace_id, patient_id, status, version, body, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $7)`, id, pr.WorkspaceID, patientID, status, body, p.UserID, now.UnixMicro()); err != nil {
			return fmt.Errorf("insert case: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO case_revisions (case_id, version, status, body, edited_by, edited_at)
			VALUES ($1, 1, $2, $3, $4, $5)`, id, status, rev, p.UserID, now.UnixMicro()); err != nil {
			return fmt.Errorf("insert case revision: %w", err)
		}
		return nil
	})
	if err != nil {
		s.gate.Failed(ctx, p, c, d)
		return nil, err
	}
	return cs, nil
}

// revRow is a revision's row id in its ciphertext's associated data.
func revRow(caseID string, version int) string { return fmt.Sprintf("%s/%d", caseID, version) }

// patientFacts loads the policy facts about p and the patient.
func (s *Service) patientFacts(ctx context.Context, p *access.Principal, patientID string) (access.Resource, error) {
	var r access.Resource
	err := s.db.Read.QueryRowContext(ctx, patient.FactsSQL(s.db.Dialect), patientID, userOf(p), s.now().UnixMicro()).
		Scan(&r.WorkspaceID, &r.CareTeam, &r.BreakGlassOn, &r.Collaborator)
	if errors.Is(err, sql.ErrNoRows) {
		return r, patient.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("load patient facts: %w", err)
	}
	r.Kind, r.PatientID = access.KindPatient, patientID
	return r, nil
}

// Listed is a case in a patient's list of cases.
type Listed struct {
	ID        string
	Title     string
	Date      string
	Status    string
	Shared    bool
	UpdatedAt time.Time
}

// List returns a patient's cases, newest first. Patients and their
// representatives get only the cases shared with them. One audit entry
// (case.list) covers the list: every row is the same patient's.
func (s *Service) List(ctx context.Context, p *access.Principal, patientID string) ([]Listed, error) {
	pr, err := s.patientFacts(ctx, p, patientID)
	if errors.Is(err, patient.ErrNotFound) {
		c := patient.Check{Action: access.CaseList, ResourceType: "patient", ResourceID: patientID}
		return nil, s.gate.Refuse(ctx, p, c, patient.ReasonNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	return s.list(ctx, p, pr)
}

// errStanding is a programming error: a Standing loaded for someone else,
// or never loaded, was handed to ListFor.
var errStanding = errors.New("list cases: the patient's standing was not loaded for this principal")

// ListFor is List for a caller that has just read the patient
// (patient.Service.ViewRecord) and holds p's standing with them, so the
// patient row is not loaded again. It audits case.list like List.
func (s *Service) ListFor(ctx context.Context, p *access.Principal, st patient.Standing) ([]Listed, error) {
	if !st.For(p) {
		return nil, errStanding
	}
	return s.list(ctx, p, st.Resource())
}

func (s *Service) list(ctx context.Context, p *access.Principal, pr access.Resource) ([]Listed, error) {
	patientID := pr.PatientID
	c := patient.Check{Action: access.CaseList, Resource: pr, ResourceType: "patient", ResourceID: patientID}
	rc, _, err := s.gate.Pass(ctx, p, c)
	if err != nil {
		return nil, err
	}
	limited := p.Role == access.RolePatient || p.Role == access.RoleRepresentative
	q := `SELECT id, status, shared, body, updated_at FROM cases WHERE patient_id = $1`
	if limited {
		q += ` AND shared = 1`
	}
	rows, err := s.db.Read.QueryContext(ctx, q+` ORDER BY created_at DESC, id DESC`, patientID)
	if err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	defer rows.Close()
	k, err := s.keys.PatientKey(ctx, pr.WorkspaceID, patientID)
	if err != nil {
		return nil, fmt.Errorf("patient key: %w", err)
	}
	var out []Listed
	for rows.Next() {
		var l Listed
		var ct []byte
		var at int64
		if err := rows.Scan(&l.ID, &l.Status, &l.Shared, &ct, &at); err != nil {
			return nil, fmt.Errorf("list cases: %w", err)
		}
		var b Body
		if err := patient.Open(rc, patientID, k, ct, tableCases, l.ID, "body", &b); err != nil {
			return nil, err
		}
		l.Title, l.Date, l.UpdatedAt = b.Title, b.Date, time.UnixMicro(at)
		out = append(out, l)
	}
	return out, rows.Err()
}

// Get returns a case with its comments and collaborators, or the patient's
// limited view of a shared case.
func (s *Service) Get(ctx context.Context, p *access.Principal, id string) (*Case, error) {
	r, rc, d, err := s.pass(ctx, p, id, access.CaseRead, "")
	if err != nil {
		return nil, err
	}
	k, err := s.keys.PatientKey(ctx, r.workspaceID, r.patientID)
	if err != nil {
		return nil, fmt.Errorf("patient key: %w", err)
	}
	cs := r.toCase(d)
	if err := patient.Open(rc, r.patientID, k, r.body, tableCases, r.id, "body", &cs.Body); err != nil {
		return nil, err
	}
	if isPatient(p) {
		cs.Limited = true
		if !r.notesShared {
			cs.Notes = ""
		}
		return cs, nil
	}
	if cs.Comments, err = s.comments(ctx, rc, k, r); err != nil {
		return nil, err
	}
	if cs.Collaborators, err = s.collaborators(ctx, r.id); err != nil {
		return nil, err
	}
	return cs, nil
}

func isPatient(p *access.Principal) bool {
	return p != nil && (p.Role == access.RolePatient || p.Role == access.RoleRepresentative)
}

func (r *caseRow) toCase(d access.Decision) *Case {
	return &Case{ID: r.id, WorkspaceID: r.workspaceID, PatientID: r.patientID, Status: r.status, Shared: r.shared, NotesShared: r.notesShared,
		Version: r.version, CreatedBy: r.createdBy, CreatedAt: time.UnixMicro(r.createdAt), UpdatedAt: time.UnixMicro(r.updatedAt), BreakGlass: d.BreakGlass}
}

// Update edits title, date, status or notes. version is the one the caller
// read: a concurrent edit makes this ErrConflict instead of overwriting it.
// The previous state stays readable as a revision.
func (s *Service) Update(ctx context.Context, p *access.Principal, id string, version int, in Input) (*Case, error) {
	r, rc, d, err := s.pass(ctx, p, id, access.CaseUpdate, "")
	if err != nil {
		return nil, err
	}
	k, err := s.keys.PatientKey(ctx, r.workspaceID, r.patientID)
	if err != nil {
		return nil, fmt.Errorf("patient key: %w", err)
	}
	chk := caseCheck(access.CaseUpdate, "", r)
	if version != r.version {
		// The allow entry is written; say the edit did not happen, and
		// decrypt nothing for it.
		s.gate.Failed(ctx, p, chk, d)
		return nil, patient.ErrConflict
	}
	cs := r.toCase(d)
	if err := patient.Open(rc, r.patientID, k, r.body, tableCases, r.id, "body", &cs.Body); err != nil {
		return nil, err
	}
	if in.Title != nil {
		cs.Title = strings.TrimSpace(*in.Title)
	}
	if in.Date != nil {
		cs.Date = strings.TrimSpace(*in.Date)
	}
	if in.Notes != nil {
		cs.Notes = *in.Notes
	}
	if in.Status != nil {
		cs.Status = *in.Status
	}
	if err := validate(cs.Body, cs.Status); err != nil {
		s.gate.Failed(ctx, p, chk, d)
		return nil, err
	}
	cs.Version = r.version + 1
	cs.UpdatedAt = s.now()
	body, err := patient.Seal(k, cs.Body, tableCases, id, "body")
	if err != nil {
		return nil, err
	}
	rev, err := patient.Seal(k, cs.Body, "case_revisions", revRow(id, cs.Version), "body")
	if err != nil {
		return nil, err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE cases SET status = $1, body = $2, version = $3, updated_at = $4 WHERE id = $5 AND version = $6`,
			cs.Status, body, cs.Version, cs.UpdatedAt.UnixMicro(), id, r.version)
		if err != nil {
			return fmt.Errorf("update case: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return patient.ErrConflict
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO case_revisions (case_id, version, status, body, edited_by, edited_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, cs.Version, cs.Status, rev, p.UserID, cs.UpdatedAt.UnixMicro()); err != nil {
			return fmt.Errorf("insert case revision: %w", err)
		}
		return nil
	})
	if err != nil {
		s.gate.Failed(ctx, p, caseCheck(access.CaseUpdate, "", r), d)
		return nil, err
	}
	return cs, nil
}

// Revision is one saved state of a case.
type Revision struct {
	Version  int
	Status   string
	EditedBy string
	EditedAt time.Time
	Body
}

// ReasonPatientView is the audit reason when a patient asks for what their
// limited view leaves out (history, comments).
const ReasonPatientView = "not_in_patient_view"

// Revisions returns every saved state of a case, newest first. Patients'
// limited view has no history.
func (s *Service) Revisions(ctx context.Context, p *access.Principal, id string) ([]Revision, error) {
	if isPatient(p) {
		r, err := s.loadCase(ctx, s.db.Read, p, id)
		if err != nil && !errors.Is(err, patient.ErrNotFound) {
			return nil, err
		}
		c := patient.Check{Action: access.CaseRead, AuditAction: "case.revisions", ResourceType: "case", ResourceID: id}
		if r != nil {
			c = caseCheck(access.CaseRead, "case.revisions", r)
		}
		return nil, s.gate.Refuse(ctx, p, c, ReasonPatientView, patient.ErrNotFound)
	}
	r, rc, _, err := s.pass(ctx, p, id, access.CaseRead, "case.revisions")
	if err != nil {
		return nil, err
	}
	k, err := s.keys.PatientKey(ctx, r.workspaceID, r.patientID)
	if err != nil {
		return nil, fmt.Errorf("patient key: %w", err)
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT version, status, body, edited_by, edited_at FROM case_revisions WHERE case_id = $1 ORDER BY version DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("list case revisions: %w", err)
	}
	defer rows.Close()
	var out []Revision
	for rows.Next() {
		var v Revision
		var ct []byte
		var at int64
		if err := rows.Scan(&v.Version, &v.Status, &ct, &v.EditedBy, &at); err != nil {
			return nil, fmt.Errorf("list case revisions: %w", err)
		}
		if err := patient.Open(rc, r.patientID, k, ct, "case_revisions", revRow(id, v.Version), "body", &v.Body); err != nil {
			return nil, err
		}
		v.EditedAt = time.UnixMicro(at)
		out = append(out, v)
	}
	return out, rows.Err()
}

// Sharing says what of a case the patient (and their representatives) see.
type Sharing struct {
	Shared      bool // title, date and status
	NotesShared bool // the notes as well; implies Shared
}

// Share sets what the patient sees of the case.
func (s *Service) Share(ctx context.Context, p *access.Principal, id string, sh Sharing) error {
	if sh.NotesShared && !sh.Shared {
		return patient.Invalid("notes_shared", "share the case before sharing its notes")
	}
	r, _, d, err := s.pass(ctx, p, id, access.CaseShare, "case.share")
	if err != nil {
		return err
	}
	_, err = s.db.Write.ExecContext(ctx, `UPDATE cases SET shared = $1, notes_shared = $2 WHERE id = $3`, boolInt(sh.Shared), boolInt(sh.NotesShared), id)
	if err != nil {
		s.gate.Failed(ctx, p, caseCheck(access.CaseShare, "case.share", r), d)
		return fmt.Errorf("share case: %w", err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Facts returns the policy facts about p and a case (care team,
// collaboration, break-glass, shared with the patient) and the case's
// patient, for services that keep things on a case: media files decide on
// them. ErrNotFound (patient.ErrNotFound) if there is no such case.
func (s *Service) Facts(ctx context.Context, p *access.Principal, caseID string) (string, access.Resource, error) {
	r, err := s.loadCase(ctx, s.db.Read, p, caseID)
	if err != nil {
		return "", access.Resource{}, err
	}
	return r.patientID, r.resource(), nil
}
