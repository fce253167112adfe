// Package patient keeps patient profiles: validated, sealed field by field
// with the patient's own key, searchable through blind indexes, and reachable
// only through the access policy and the audit log. It also keeps the care
// team, personal representatives and break-glass grants, the facts the
// policy needs about a patient.
package patient

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/custodia-health/custodia/internal/ids"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/keys"
)

// Table and column names, bound into every ciphertext's associated data.
const (
	tablePatients = "patients"
	colProfile    = "profile"
	colSummary    = "summary"
)

// Config is what a Service needs.
type Config struct {
	DB    *db.DB
	Keys  *keys.Keyring
	Audit audit.Appender
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// BreakGlassFor is how long a break-glass grant lasts; default 4 h.
	BreakGlassFor time.Duration
	// Notifier alerts the privacy officer of a break-glass access; the
	// review queue is the durable alert, this is the push. Optional.
	Notifier BreakGlassNotifier
	// Inviter sends portal invitations (identity's mailer). Optional until
	// identity is merged: without it InvitePortal returns ErrNotConfigured.
	Inviter PortalInviter
	// Log gets ids and codes only. Default: discard.
	Log *slog.Logger
	// NoticeInForce returns the privacy notice version in force for a
	// workspace at a time ("" if none); a new patient record stores it.
	// Optional: without it records remember no notice.
	NoticeInForce func(ctx context.Context, workspaceID string, at time.Time) (string, error)
}

// Service is the patient records service.
type Service struct {
	db       *db.DB
	keys     *keys.Keyring
	gate     *Gate
	now      func() time.Time
	glassFor time.Duration
	notifier BreakGlassNotifier
	inviter  PortalInviter
	log      *slog.Logger
	noticeAt func(ctx context.Context, workspaceID string, at time.Time) (string, error)

	// loadStmt is loadRow's query, prepared once on first use: on SQLite
	// parsing its three EXISTS subqueries cost more than running them, and
	// was most of an audited read's time (issue 4's read-vs-plain-SQL ratio).
	loadMu   sync.Mutex
	loadStmt atomic.Pointer[sql.Stmt]
}

// New returns a Service.
func New(c Config) *Service {
	s := &Service{db: c.DB, keys: c.Keys, gate: &Gate{Audit: c.Audit}, now: c.Now, glassFor: c.BreakGlassFor,
		notifier: c.Notifier, inviter: c.Inviter, log: c.Log, noticeAt: c.NoticeInForce}
	if s.now == nil {
		s.now = time.Now
	}
	if s.glassFor <= 0 {
		s.glassFor = 4 * time.Hour
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Gate is the service's decide-and-audit path, shared with casefile.
func (s *Service) Gate() *Gate { return s.gate }

// Keys is the keyring, shared with casefile.
func (s *Service) Keys() *keys.Keyring { return s.keys }

// NewID returns a random 128-bit id in hex: ids go into URLs and logs, so
// they must carry no meaning.
func NewID() string { return ids.New() }

// Patient is a patient record as one principal may see it. For a summary
// read only Summary is filled and Limited is true.
type Patient struct {
	ID          string
	WorkspaceID string
	Version     int
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Profile     Profile
	Summary     Summary
	// Limited is true when the principal may see only the summary.
	Limited bool
	// BreakGlass is true when this read happened under a break-glass grant.
	BreakGlass bool
	// NoticeID is the privacy notice version in force when the record was
	// created; Create sets it (reads do not load it; the column keeps it).
	NoticeID string

	creatorTreats bool   // on insert: the creator joins the care team
	treating      string // on insert: a clinician registered as treating, who joins it too
}

// row is a patients row with the principal's relationship facts.
type row struct {
	id, workspaceID, createdBy string
	version                    int
	createdAt, updatedAt       int64
	profile, summary           []byte
	careTeam, glass, collab    bool
	// key is the patient's wrapped key row, read in the same query so an
	// uncached key costs no second round trip.
	key *keys.StoredPatientKey
}

// patientKey returns the patient's data key, from the cache or the key row
// loadRow read.
func (s *Service) patientKey(ctx context.Context, r *row) (*keys.Key, error) {
	return s.keys.PatientKeyFrom(ctx, r.workspaceID, r.id, r.key)
}

// loadRow reads a patient and, in the same query, the facts the policy needs
// about p and this patient, so a read costs one round trip.
func (s *Service) loadRow(ctx context.Context, p *access.Principal, id string) (*row, error) {
	user := ""
	if p != nil {
		user = p.UserID
	}
	r := row{key: s.keys.StoredPatientKey()}
	st, err := s.loadStatement(ctx)
	if err != nil {
		return nil, err
	}
	dest := append(make([]any, 0, 15), &r.id, &r.workspaceID, &r.createdBy, &r.version, &r.createdAt, &r.updatedAt,
		&r.profile, &r.summary, &r.careTeam, &r.glass, &r.collab)
	err = st.QueryRowContext(ctx, id, user, s.now().UnixMicro()).Scan(append(dest, r.key.Dest()...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load patient: %w", err)
	}
	return &r, nil
}

// loadRowSQL reads a patient row with the principal's relationship facts.
// Every parameter is written +$n: once ANALYZE has gathered statistics
// (SQLite with STAT4), a bare parameter compared with an indexed column
// makes SQLite re-plan the statement for each new value, parsing it again
// on every read; the unary plus keeps the index use but not the re-plan.
// PostgreSQL gets the bare parameters (it cannot type +$n), see
// loadStatement. The patient's key row comes along (keys.PatientKeyJoin).
var loadRowSQL = `
		SELECT p.id, p.workspace_id, p.created_by, p.version, p.created_at, p.updated_at, p.profile, p.summary,
		  ` + relationshipFacts + `,
		  ` + keys.PatientKeyColumns("dk") + `
		FROM patients p ` + keys.PatientKeyJoin("dk", "p.id") + ` WHERE p.id = +$1`

// relationshipFacts are the policy's facts about user $2 and patient p at
// time $3 (microseconds), as three SELECT columns: on the care team, holding
// a break-glass grant, collaborating on one of the patient's cases. The
// collaboration is looked up from the patient's cases (CROSS JOIN keeps
// SQLite from starting at the user's collaborations, of which a busy doctor
// has many); migration 0310 covers all three with indexes.
const relationshipFacts = `EXISTS (SELECT 1 FROM care_team t WHERE t.patient_id = p.id AND t.user_id = +$2 AND t.removed_at IS NULL),
		  EXISTS (SELECT 1 FROM break_glass_grants g WHERE g.patient_id = p.id AND g.user_id = +$2 AND g.expires_at > +$3),
		  EXISTS (SELECT 1 FROM cases k CROSS JOIN case_collaborators c
		          WHERE k.patient_id = p.id AND c.case_id = k.id AND c.user_id = +$2 AND c.removed_at IS NULL)`

// FactsSQL is a query of the workspace and the relationship facts of the
// patient with id $1 for user $2 at time $3 (microseconds), scanned as
// workspace id, care team, break-glass, collaborator: the same facts Get
// decides on, for a package that decides about the patient's records.
func FactsSQL(d db.Dialect) string {
	return dialectParams(d, `SELECT p.workspace_id, `+relationshipFacts+` FROM patients p WHERE p.id = +$1`)
}

// dialectParams writes loadRowSQL's +$n parameters bare for PostgreSQL,
// which cannot type +$n.
func dialectParams(d db.Dialect, q string) string {
	if d.Name != "sqlite" {
		return strings.ReplaceAll(q, "+$", "$")
	}
	return q
}

// loadStatement returns loadRowSQL prepared on the read pool (database/sql
// prepares it again on each connection it lands on, once). A failed
// prepare is retried on the next call.
func (s *Service) loadStatement(ctx context.Context) (*sql.Stmt, error) {
	if st := s.loadStmt.Load(); st != nil {
		return st, nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if st := s.loadStmt.Load(); st != nil {
		return st, nil
	}
	st, err := s.db.Read.PrepareContext(ctx, dialectParams(s.db.Dialect, loadRowSQL))
	if err != nil {
		return nil, fmt.Errorf("load patient: prepare: %w", err)
	}
	s.loadStmt.Store(st)
	return st, nil
}

func (r *row) resource() access.Resource {
	return access.Resource{Kind: access.KindPatient, WorkspaceID: r.workspaceID, PatientID: r.id,
		CareTeam: r.careTeam, BreakGlassOn: r.glass, Collaborator: r.collab}
}

// Facts returns the policy facts about p and a patient (care team,
// break-glass, collaboration), for other services deciding on the patient's
// data. ErrNotFound if there is no such patient.
func (s *Service) Facts(ctx context.Context, p *access.Principal, patientID string) (access.Resource, error) {
	r, err := s.loadRow(ctx, p, patientID)
	if err != nil {
		return access.Resource{}, err
	}
	return r.resource(), nil
}

// check names the audit resource for an action on patient r.
func patientCheck(a access.Action, auditAction string, r *row) Check {
	return Check{Action: a, AuditAction: auditAction, Resource: r.resource(), ResourceType: "patient", ResourceID: r.id}
}

// pass loads the patient and runs the gate; a missing id is audited too.
func (s *Service) pass(ctx context.Context, p *access.Principal, id string, a access.Action, auditAction string) (*row, audit.Receipt, access.Decision, error) {
	r, err := s.loadRow(ctx, p, id)
	if errors.Is(err, ErrNotFound) {
		c := Check{Action: a, AuditAction: auditAction, ResourceType: "patient", ResourceID: id}
		return nil, audit.Receipt{}, access.Decision{}, s.gate.Refuse(ctx, p, c, ReasonNotFound, ErrNotFound)
	}
	if err != nil {
		return nil, audit.Receipt{}, access.Decision{}, err
	}
	rc, d, err := s.gate.Pass(ctx, p, patientCheck(a, auditAction, r))
	return r, rc, d, err
}

// passLasting is pass for an action that gives someone lasting access to
// the record (a representative, a portal account): the policy allows it as
// a patient update, but not under break-glass, since an emergency grant
// must not outlive itself through the people it lets in. The refusal is
// audited, flagged as done under the grant.
func (s *Service) passLasting(ctx context.Context, p *access.Principal, id string, a access.Action, auditAction string) (*row, audit.Receipt, access.Decision, error) {
	r, err := s.loadRow(ctx, p, id)
	if err == nil {
		if d := access.Decide(p, a, r.resource()); d.Allow && d.BreakGlass {
			refused := access.Decision{Reason: access.DenyGlassNoLasting, BreakGlass: true, Visible: true}
			c := patientCheck(a, auditAction, r)
			if _, err := s.gate.Audit.Append(ctx, Event(p, c, refused)); err != nil {
				return nil, audit.Receipt{}, refused, fmt.Errorf("audit %s: %w", auditAction, err)
			}
			return nil, audit.Receipt{}, refused, ErrForbidden
		}
	}
	return s.pass(ctx, p, id, a, auditAction)
}

// Create adds a patient to p's workspace; p joins the care team if p holds
// the clinician role.
func (s *Service) Create(ctx context.Context, p *access.Principal, in Profile) (*Patient, error) {
	return s.CreateFor(ctx, p, in, "")
}

// CreateFor is Create registering the patient for the clinician treating
// (a user id; "" for none), who starts on the care team: the front desk
// registers a patient for the doctor who will see them. The caller checks
// that treating is a clinician of p's workspace; care_team.added_by records
// who registered them.
func (s *Service) CreateFor(ctx context.Context, p *access.Principal, in Profile, treating string) (*Patient, error) {
	in.Normalise()
	now := s.now()
	if err := in.Validate(now); err != nil {
		return nil, err
	}
	if p == nil || p.WorkspaceID == "" {
		return nil, ErrForbidden
	}
	id := NewID()
	c := Check{Action: access.PatientCreate, ResourceType: "patient", ResourceID: id,
		Resource: access.Resource{Kind: access.KindPatient, WorkspaceID: p.WorkspaceID, PatientID: id}}
	_, d, err := s.gate.Pass(ctx, p, c)
	if err != nil {
		return nil, err
	}
	pt := &Patient{ID: id, WorkspaceID: p.WorkspaceID, Version: 1, CreatedBy: p.UserID, CreatedAt: now, UpdatedAt: now,
		Profile: in, Summary: in.Summary(), creatorTreats: p.Has(access.RoleClinician), treating: treating}
	if err := s.write(ctx, pt, true); err != nil {
		s.gate.Failed(ctx, p, c, d)
		return nil, err
	}
	return pt, nil
}

// write seals and stores pt (insert or update at pt.Version), replacing its
// search terms. The patient key is fetched before the transaction: on SQLite
// creating it needs the one writer connection the transaction would hold.
func (s *Service) write(ctx context.Context, pt *Patient, insert bool) error {
	k, err := s.keys.PatientKey(ctx, pt.WorkspaceID, pt.ID)
	if err != nil {
		return fmt.Errorf("patient key: %w", err)
	}
	bk, err := s.keys.BlindKey(ctx, pt.WorkspaceID)
	if err != nil {
		return fmt.Errorf("blind key: %w", err)
	}
	prof, err := Seal(k, pt.Profile, tablePatients, pt.ID, colProfile)
	if err != nil {
		return err
	}
	sum, err := Seal(k, pt.Summary, tablePatients, pt.ID, colSummary)
	if err != nil {
		return err
	}
	terms := SearchTerms(bk, pt.Profile)
	var mrn []byte
	if pt.Profile.MRN != "" {
		mrn = keys.BlindIndex(bk, fieldMRN, keys.Normalise(pt.Profile.MRN))
	}
	var noticeID sql.NullString // the privacy notice in force when the record was collected
	if insert && s.noticeAt != nil {
		id, err := s.noticeAt(ctx, pt.WorkspaceID, pt.CreatedAt)
		if err != nil {
			return fmt.Errorf("notice in force: %w", err)
		}
		noticeID = sql.NullString{String: id, Valid: id != ""}
		pt.NoticeID = id
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if mrn != nil {
			var other string
			err := tx.QueryRowContext(ctx, `SELECT patient_id FROM patient_search WHERE workspace_id = $1 AND term = $2 AND patient_id <> $3 LIMIT 1`,
				pt.WorkspaceID, mrn, pt.ID).Scan(&other)
			if err == nil {
				return Invalid("mrn", "another patient in this workspace already has this medical record number")
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("check medical record number: %w", err)
			}
		}
		if insert {
			if _, err := tx.ExecContext(ctx, `INSERT INTO patients (id, workspace_id, created_by, created_at, updated_at, version, profile, summary, notice_id)
				VALUES ($1, $2, $3, $4, $4, 1, $5, $6, $7)`, pt.ID, pt.WorkspaceID, pt.CreatedBy, pt.CreatedAt.UnixMicro(), prof, sum, noticeID); err != nil {
				return fmt.Errorf("insert patient: %w", err)
			}
			// A clinician who registers a patient treats them; the front desk
			// or an admin registering one is not thereby on the care team.
			if pt.creatorTreats {
				if _, err := tx.ExecContext(ctx, `INSERT INTO care_team (patient_id, user_id, added_by, added_at) VALUES ($1, $2, $2, $3)`,
					pt.ID, pt.CreatedBy, pt.CreatedAt.UnixMicro()); err != nil {
					return fmt.Errorf("add creator to care team: %w", err)
				}
			}
			if pt.treating != "" && !(pt.creatorTreats && pt.treating == pt.CreatedBy) {
				if _, err := tx.ExecContext(ctx, `INSERT INTO care_team (patient_id, user_id, added_by, added_at) VALUES ($1, $2, $3, $4)`,
					pt.ID, pt.treating, pt.CreatedBy, pt.CreatedAt.UnixMicro()); err != nil {
					return fmt.Errorf("add treating clinician to care team: %w", err)
				}
			}
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE patients SET profile = $1, summary = $2, version = version + 1, updated_at = $3
				WHERE id = $4 AND version = $5`, prof, sum, pt.UpdatedAt.UnixMicro(), pt.ID, pt.Version)
			if err != nil {
				return fmt.Errorf("update patient: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return ErrConflict
			}
			pt.Version++
			if _, err := tx.ExecContext(ctx, `DELETE FROM patient_search WHERE patient_id = $1`, pt.ID); err != nil {
				return fmt.Errorf("clear search terms: %w", err)
			}
		}
		for _, t := range terms {
			if _, err := tx.ExecContext(ctx, `INSERT INTO patient_search (workspace_id, term, patient_id) VALUES ($1, $2, $3)`,
				pt.WorkspaceID, t, pt.ID); err != nil {
				return fmt.Errorf("index patient: %w", err)
			}
		}
		return nil
	})
}

// Get returns the full record, if p may read it.
func (s *Service) Get(ctx context.Context, p *access.Principal, id string) (*Patient, error) {
	r, rc, d, err := s.pass(ctx, p, id, access.PatientRead, "")
	if err != nil {
		return nil, err
	}
	return s.open(ctx, r, rc, d, false)
}

// GetSummary returns the minimum-necessary summary, if p may read it.
func (s *Service) GetSummary(ctx context.Context, p *access.Principal, id string) (*Patient, error) {
	r, rc, d, err := s.pass(ctx, p, id, access.PatientReadSummary, "")
	if err != nil {
		return nil, err
	}
	return s.open(ctx, r, rc, d, true)
}

// View returns the full record if p may read it, else the summary if p may
// read that (a clinician not on the care team, an admin, a collaborator), so
// a page can show what is allowed and offer break-glass for the rest. Only
// the read that happens is audited.
func (s *Service) View(ctx context.Context, p *access.Principal, id string) (*Patient, error) {
	pt, _, err := s.view(ctx, p, id)
	return pt, err
}

// view is View, also returning the row it read (ViewRecord reads more of
// the patient's record on it).
func (s *Service) view(ctx context.Context, p *access.Principal, id string) (*Patient, *row, error) {
	r, err := s.loadRow(ctx, p, id)
	if errors.Is(err, ErrNotFound) {
		c := Check{Action: access.PatientRead, ResourceType: "patient", ResourceID: id}
		return nil, nil, s.gate.Refuse(ctx, p, c, ReasonNotFound, ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	a := access.PatientRead
	if !access.Decide(p, a, r.resource()).Allow {
		a = access.PatientReadSummary
	}
	rc, d, err := s.gate.Pass(ctx, p, patientCheck(a, "", r))
	if err != nil {
		return nil, nil, err
	}
	pt, err := s.open(ctx, r, rc, d, a == access.PatientReadSummary)
	if err != nil {
		return nil, nil, err
	}
	return pt, r, nil
}

func (s *Service) open(ctx context.Context, r *row, rc audit.Receipt, d access.Decision, summaryOnly bool) (*Patient, error) {
	k, err := s.patientKey(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("patient key: %w", err)
	}
	pt := &Patient{ID: r.id, WorkspaceID: r.workspaceID, Version: r.version, CreatedBy: r.createdBy,
		CreatedAt: time.UnixMicro(r.createdAt), UpdatedAt: time.UnixMicro(r.updatedAt), Limited: summaryOnly, BreakGlass: d.BreakGlass}
	if summaryOnly {
		if err := Open(rc, r.id, k, r.summary, tablePatients, r.id, colSummary, &pt.Summary); err != nil {
			return nil, err
		}
		return pt, nil
	}
	// The sealed summary is only ever written as the profile's Summary (see
	// write), so a full read derives it instead of opening it too.
	if err := Open(rc, r.id, k, r.profile, tablePatients, r.id, colProfile, &pt.Profile); err != nil {
		return nil, err
	}
	pt.Summary = pt.Profile.Summary()
	return pt, nil
}

// Update replaces the profile. version is the one the caller read; a
// concurrent change makes it ErrConflict rather than a silent overwrite.
func (s *Service) Update(ctx context.Context, p *access.Principal, id string, version int, in Profile) (*Patient, error) {
	in.Normalise()
	now := s.now()
	if err := in.Validate(now); err != nil {
		return nil, err
	}
	r, _, d, err := s.pass(ctx, p, id, access.PatientUpdate, "")
	if err != nil {
		return nil, err
	}
	pt := &Patient{ID: r.id, WorkspaceID: r.workspaceID, Version: version, CreatedBy: r.createdBy,
		CreatedAt: time.UnixMicro(r.createdAt), UpdatedAt: now, Profile: in, Summary: in.Summary(), BreakGlass: d.BreakGlass}
	if err := s.write(ctx, pt, false); err != nil {
		s.gate.Failed(ctx, p, patientCheck(access.PatientUpdate, "", r), d)
		return nil, err
	}
	return pt, nil
}

// Listed is one row of a list or search result: the summary only.
type Listed struct {
	ID        string
	CreatedAt time.Time
	Summary   Summary
}

// Page is one page of patients, newest first.
type Page struct {
	Patients []Listed
	// Next is the cursor of the following page, "" on the last one.
	Next string
	// More is set on a search that matched more than one page.
	More bool
}

// PageSize is the number of patients a list or search page shows.
const PageSize = 50

// List returns a page of the workspace's patients, newest first. cursor is
// Page.Next of the previous page, or "".
//
// Auditing: one entry for the request (action patient.list, resource the
// workspace) and one entry per patient shown (action patient.list, resource
// and patient the row), so each patient's access history shows every list
// view that revealed their name. The entries are appended concurrently and
// group-committed together.
func (s *Service) List(ctx context.Context, p *access.Principal, cursor string) (*Page, error) {
	ws, err := s.passList(ctx, p, "patient.list")
	if err != nil {
		return nil, err
	}
	args := []any{ws}
	q := `SELECT id, created_at, summary FROM patients WHERE workspace_id = $1`
	if cursor != "" {
		at, id, ok := parseCursor(cursor)
		if !ok {
			return nil, Invalid("cursor", "is not a cursor this server gave out")
		}
		q += ` AND (created_at < $2 OR (created_at = $2 AND id < $3))`
		args = append(args, at, id)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ` + strconv.Itoa(PageSize+1)
	return s.page(ctx, p, ws, "patient.list", q, args)
}

func (s *Service) passList(ctx context.Context, p *access.Principal, action string) (string, error) {
	ws := ""
	if p != nil {
		ws = p.WorkspaceID
	}
	c := Check{Action: access.PatientList, AuditAction: action, ResourceType: "workspace", ResourceID: ws,
		Resource: access.Resource{Kind: access.KindWorkspace, WorkspaceID: ws}}
	// The request-level decision; its entry is written with the rows'.
	if d := access.Decide(p, c.Action, c.Resource); !d.Allow {
		_, _, err := s.gate.Pass(ctx, p, c)
		return "", err
	}
	return ws, nil
}

// page runs a list query (id, created_at, summary), audits the request and
// each row shown in one concurrent batch, and decrypts the summaries.
func (s *Service) page(ctx context.Context, p *access.Principal, ws, action, q string, args []any) (*Page, error) {
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list patients: %w", err)
	}
	type listRow struct {
		id  string
		at  int64
		sum []byte
	}
	var rs []listRow
	for rows.Next() {
		var r listRow
		if err := rows.Scan(&r.id, &r.at, &r.sum); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list patients: %w", err)
		}
		rs = append(rs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list patients: %w", err)
	}
	pg := &Page{}
	if len(rs) > PageSize {
		rs = rs[:PageSize]
		last := rs[len(rs)-1]
		pg.Next = strconv.FormatInt(last.at, 10) + "." + last.id
	}
	checks := make([]Check, 0, len(rs)+1)
	checks = append(checks, Check{Action: access.PatientList, AuditAction: action, ResourceType: "workspace", ResourceID: ws,
		Resource: access.Resource{Kind: access.KindWorkspace, WorkspaceID: ws}})
	for _, r := range rs {
		checks = append(checks, Check{Action: access.PatientReadSummary, AuditAction: action, ResourceType: "patient", ResourceID: r.id,
			Resource: access.Resource{Kind: access.KindPatient, WorkspaceID: ws, PatientID: r.id}})
	}
	rcs, err := s.gate.PassAll(ctx, p, checks)
	if err != nil {
		return nil, err
	}
	pg.Patients = make([]Listed, 0, len(rs))
	for i, r := range rs {
		rc := rcs[i+1]
		if !rc.Valid() {
			continue // the policy refused this row; the denial is in the log
		}
		k, err := s.keys.PatientKey(ctx, ws, r.id)
		if err != nil {
			return nil, fmt.Errorf("patient key: %w", err)
		}
		l := Listed{ID: r.id, CreatedAt: time.UnixMicro(r.at)}
		if err := Open(rc, r.id, k, r.sum, tablePatients, r.id, colSummary, &l.Summary); err != nil {
			return nil, err
		}
		pg.Patients = append(pg.Patients, l)
	}
	return pg, nil
}

func parseCursor(c string) (int64, string, bool) {
	a, id, ok := strings.Cut(c, ".")
	if !ok || len(id) != 32 {
		return 0, "", false
	}
	at, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return 0, "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return 0, "", false
	}
	return at, id, true
}
