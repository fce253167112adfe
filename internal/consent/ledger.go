package consent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/keys"
)

// Event is one row of the consent ledger.
type Event struct {
	ID             string
	PatientID      string
	WorkspaceID    string
	Purpose        PurposeCode
	Category       DataCategory
	Action         Action
	TextID         string
	TextVersion    int
	Method         Method
	DecidedBy      Decider
	Representative string // user id of the representative who decided, if one did
	RecordedBy     string // user id who entered it
	OnBehalfOf     string // user id the recorder acted for, if any
	FormType       string // the signed form's media type; "" without a form
	FormSize       int64
	Note           string // decrypted; filled only for a caller holding a receipt
	RecordedAt     time.Time
	NoticeID       string // the privacy notice version in force when it was recorded; "" if none

	formBlob string
	note     []byte
}

// HasForm reports whether a signed paper form is stored with the event.
func (e Event) HasForm() bool { return e.formBlob != "" }

// Change is a grant or a withdrawal to record.
type Change struct {
	PatientID string
	Purpose   PurposeCode
	Category  DataCategory // "" means General
	Action    Action
	// TextID is the consent text version the patient was shown; "" means
	// the current one.
	TextID string
	Method Method
	// Representative is, for a paper form signed by a personal
	// representative, that representative's user id.
	Representative string
	Note           string // free text, sealed with the patient's key
	// Form is the signed paper form (PaperForm only), of type FormType; the
	// caller has checked the content type by sniffing.
	Form     io.Reader
	FormType string
}

// Form limits.
const (
	MaxFormBytes = 20 << 20
	MaxNoteBytes = 2000
)

// FormTypes are the media types a signed form may have.
var FormTypes = []string{"application/pdf", "image/jpeg", "image/png"}

func validFormType(t string) bool {
	for _, f := range FormTypes {
		if f == t {
			return true
		}
	}
	return false
}

const eventColumns = `e.id, e.patient_id, e.workspace_id, e.purpose, e.category, e.action, e.text_id, t.version,
	e.method, e.decided_by, e.representative, e.recorded_by, e.on_behalf_of, e.form_blob, e.form_type, e.form_size,
	e.note, e.recorded_at, COALESCE(e.notice_id, '')`

func scanEvent(r scanner) (Event, error) {
	var e Event
	var at int64
	err := r.Scan(&e.ID, &e.PatientID, &e.WorkspaceID, &e.Purpose, &e.Category, &e.Action, &e.TextID, &e.TextVersion,
		&e.Method, &e.DecidedBy, &e.Representative, &e.RecordedBy, &e.OnBehalfOf, &e.formBlob, &e.FormType, &e.FormSize,
		&e.note, &at, &e.NoticeID)
	e.RecordedAt = fromMicros(at)
	return e, err
}

func auditAction(a Action) string {
	switch a {
	case Grant:
		return "consent.grant"
	case Withdraw:
		return "consent.withdraw"
	}
	return string(access.ConsentRecord)
}

func (c *Change) validate(p *access.Principal) map[string]string {
	f := map[string]string{}
	if c.Category == "" {
		c.Category = General
	}
	if _, ok := Lookup(c.Purpose); !ok {
		f["purpose"] = "Choose one of the listed purposes."
	}
	if !c.Category.Valid() {
		f["category"] = "The data category must be general or impairment."
	}
	if c.Action != Grant && c.Action != Withdraw {
		f["action"] = "The action must be grant or withdraw."
	}
	if len(c.Note) > MaxNoteBytes || !utf8.ValidString(c.Note) || strings.ContainsRune(c.Note, 0) {
		f["note"] = fmt.Sprintf("The note must be text of at most %d bytes.", MaxNoteBytes)
	}
	selfService := p != nil && (p.Role == access.RolePatient || p.Role == access.RoleRepresentative)
	switch c.Method {
	case Portal:
		if !selfService {
			f["method"] = "Staff record consent from a signed paper form: attach the form."
		}
	case PaperForm:
		if selfService {
			f["method"] = "Patients and representatives give consent in the portal."
		} else if c.Form == nil {
			f["form"] = "Attach the signed form (PDF, JPEG or PNG)."
		} else if !validFormType(c.FormType) {
			f["form"] = "The signed form must be a PDF, JPEG or PNG file."
		}
	default:
		f["method"] = "The method must be portal or paper_form."
	}
	return f
}

// Record appends a grant or a withdrawal to the ledger, after the access
// policy (action consent.record) and the minor and representative rules
// allow it; the attempt is audited with the purpose whatever the outcome.
func (s *Service) Record(ctx context.Context, p *access.Principal, c Change) (Event, error) {
	if f := c.validate(p); len(f) > 0 {
		return Event{}, &ValidationError{Fields: f}
	}
	now := s.now()
	ws, dec, err := s.decide(ctx, p, access.ConsentRecord, c.PatientID)
	if err != nil {
		return Event{}, err
	}
	ev := Event{ID: newID("ce_"), PatientID: c.PatientID, WorkspaceID: ws, Purpose: c.Purpose, Category: c.Category,
		Action: c.Action, Method: c.Method, RecordedBy: p.UserID, OnBehalfOf: p.OnBehalfOf, FormType: c.FormType}
	entry := audit.Event{Action: auditAction(c.Action), ResourceType: string(access.KindConsent), ResourceID: ev.ID,
		WorkspaceID: ws, PatientID: c.PatientID, Purpose: string(c.Purpose), Reason: string(dec.Reason), BreakGlass: dec.BreakGlass}
	// ruleErr is a refusal by the consent rules after the policy allowed.
	var ruleErr error
	if dec.Allow {
		ruleErr = s.decider(ctx, p, &c, &ev, now)
	}
	if ruleErr == nil && dec.Allow {
		ruleErr = s.pickText(ctx, &c, &ev, now)
	}
	switch {
	case !dec.Allow:
		entry.Decision, entry.Outcome = "deny", "denied"
	case ruleErr != nil:
		entry.Decision, entry.Outcome, entry.Reason = "deny", "denied", ruleReason(ruleErr)
	default:
		entry.Decision, entry.Outcome = "allow", "success"
	}
	if _, err := s.appendAudit(ctx, p, entry); err != nil {
		return Event{}, err
	}
	if !dec.Allow {
		return Event{}, &DeniedError{Reason: dec.Reason, Visible: dec.Visible}
	}
	if ruleErr != nil {
		return Event{}, ruleErr
	}

	var k *keys.Key
	if c.Form != nil || c.Note != "" {
		if k, err = s.keys.PatientKey(ctx, ws, c.PatientID); err != nil {
			return Event{}, fmt.Errorf("patient key: %w", err)
		}
	}
	if c.Form != nil {
		ev.formBlob = "consent-forms/" + ev.ID
		lr := &limitReader{r: c.Form, left: MaxFormBytes}
		n, err := blob.PutEncrypted(ctx, s.blobs, ev.formBlob, k, lr)
		if err != nil {
			if lr.over {
				return Event{}, &ValidationError{Fields: map[string]string{"form": fmt.Sprintf("The signed form is larger than %d MiB.", MaxFormBytes>>20)}}
			}
			return Event{}, fmt.Errorf("store signed form: %w", err)
		}
		if n == 0 {
			_ = s.blobs.Delete(context.WithoutCancel(ctx), ev.formBlob)
			return Event{}, &ValidationError{Fields: map[string]string{"form": "The signed form is empty."}}
		}
		ev.FormSize = n
	}
	if c.Note != "" {
		ev.note, err = keys.SealField(k, []byte(c.Note), noteAD(ev.ID))
		if err != nil {
			return Event{}, fmt.Errorf("seal consent note: %w", err)
		}
	}
	noticeID, err := s.noticeAt(ctx, ws, now)
	if err != nil {
		return Event{}, err
	}
	ev.NoticeID = noticeID.String
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		// recorded_at is strictly increasing per key, so "the latest event
		// at or before t" is always one row.
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(recorded_at), 0) FROM consent_events
			WHERE patient_id = $1 AND purpose = $2 AND category = $3`, ev.PatientID, string(ev.Purpose), string(ev.Category)).Scan(&last); err != nil {
			return fmt.Errorf("last consent event: %w", err)
		}
		at := max(micros(now), last+1)
		ev.RecordedAt = fromMicros(at)
		_, err := tx.ExecContext(ctx, `INSERT INTO consent_events (id, patient_id, workspace_id, purpose, category, action,
			text_id, method, decided_by, representative, recorded_by, on_behalf_of, form_blob, form_type, form_size, note, recorded_at, notice_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
			ev.ID, ev.PatientID, ev.WorkspaceID, string(ev.Purpose), string(ev.Category), string(ev.Action), ev.TextID,
			string(ev.Method), string(ev.DecidedBy), ev.Representative, ev.RecordedBy, ev.OnBehalfOf, ev.formBlob,
			ev.FormType, ev.FormSize, ev.note, at, noticeID)
		if err != nil {
			return fmt.Errorf("insert consent event: %w", err)
		}
		return nil
	})
	if err != nil {
		if ev.formBlob != "" {
			_ = s.blobs.Delete(context.WithoutCancel(ctx), ev.formBlob)
		}
		return Event{}, err
	}
	ev.Note = c.Note
	return ev, nil
}

func noteAD(id string) keys.FieldAD {
	return keys.FieldAD{Table: "consent_events", RowID: id, Column: "note"}
}

func ruleReason(err error) string {
	switch {
	case errors.Is(err, ErrMinorNeedsRepresentative):
		return "minor_needs_representative"
	case errors.Is(err, ErrNotRepresentative):
		return "not_representative"
	case errors.Is(err, ErrTextNotCurrent):
		return "consent_text_not_current"
	}
	var v *ValidationError
	if errors.As(err, &v) {
		return "invalid_input"
	}
	return "error"
}

// decider applies the rule that a minor cannot consent alone and that only
// the patient's own representatives decide for them.
func (s *Service) decider(ctx context.Context, p *access.Principal, c *Change, ev *Event, now time.Time) error {
	minor, err := s.subjects.IsMinor(ctx, c.PatientID, now)
	if err != nil {
		return fmt.Errorf("check minor: %w", err)
	}
	rep := c.Representative
	if p.Role == access.RoleRepresentative {
		rep = p.UserID
	}
	if p.Role == access.RolePatient && rep != "" {
		return &ValidationError{Fields: map[string]string{"representative": "A patient decides for themselves."}}
	}
	if rep == "" {
		if minor {
			return ErrMinorNeedsRepresentative
		}
		ev.DecidedBy = ByPatient
		return nil
	}
	ok, err := s.subjects.IsRepresentative(ctx, rep, c.PatientID)
	if err != nil {
		return fmt.Errorf("check representative: %w", err)
	}
	if !ok {
		return ErrNotRepresentative
	}
	ev.DecidedBy, ev.Representative = ByRepresentative, rep
	return nil
}

// pickText resolves the text version shown and checks that a grant is made
// on one that still counts. A withdrawal is accepted on any version of the
// purpose: stopping use is always possible.
func (s *Service) pickText(ctx context.Context, c *Change, ev *Event, now time.Time) error {
	texts, err := s.Texts(ctx, c.Purpose)
	if err != nil {
		return err
	}
	var t *Text
	for i := range texts {
		if c.TextID == "" && !texts[i].PublishedAt.After(now) {
			t = &texts[i] // the newest published one, since texts are oldest first
		} else if c.TextID != "" && texts[i].ID == c.TextID {
			t = &texts[i]
		}
	}
	if t == nil {
		if c.TextID != "" {
			return &ValidationError{Fields: map[string]string{"text_id": "This consent text is not a version of the chosen purpose."}}
		}
		return fmt.Errorf("consent text for %s: %w", c.Purpose, ErrNotFound)
	}
	if c.Action == Grant && standing(*t, texts, now) != "" {
		return ErrTextNotCurrent
	}
	ev.TextID, ev.TextVersion = t.ID, t.Version
	return nil
}

// standing applies the version rule to a grant made on t, at time at: "" if
// the grant still counts, otherwise the reason it does not.
func standing(t Text, texts []Text, at time.Time) string {
	if t.Expired(at) {
		return ReasonExpired
	}
	for _, o := range texts {
		if o.Purpose == t.Purpose && o.Version > t.Version && o.Material && !o.PublishedAt.After(at) {
			return ReasonSuperseded
		}
	}
	return ""
}

// evaluate is the whole rule for one (purpose, category): last is the latest
// ledger event at or before at (nil if none).
func evaluate(p Purpose, c DataCategory, last *Event, texts []Text, at time.Time) Decision {
	if !p.NeedsExpressConsent(c) {
		return Decision{Allowed: true, Reason: ReasonNotRequired}
	}
	if last == nil {
		return Decision{Reason: ReasonNoConsent}
	}
	if last.Action == Withdraw {
		return Decision{Reason: ReasonWithdrawn}
	}
	for _, t := range texts {
		if t.ID == last.TextID {
			if r := standing(t, texts, at); r != "" {
				return Decision{Reason: r, GrantID: last.ID}
			}
			return Decision{Allowed: true, Reason: ReasonGranted, GrantID: last.ID}
		}
	}
	return Decision{Reason: ReasonNoConsent}
}

// Allows is the one enforcement point for uses beyond treatment: it says
// whether the patient's data of the given categories (General if none are
// named) may be used for purpose at time at, and why. Every call is appended
// to the audit log with the purpose, actor from ctx, and fails closed: if
// the entry cannot be written, Allows returns an error and no decision.
func (s *Service) Allows(ctx context.Context, patientID string, purpose PurposeCode, at time.Time, cats ...DataCategory) (Decision, error) {
	p, ok := Lookup(purpose)
	if !ok {
		return Decision{}, fmt.Errorf("check consent for %q: %w", purpose, ErrUnknownPurpose)
	}
	if len(cats) == 0 {
		cats = []DataCategory{General}
	}
	texts, err := s.Texts(ctx, purpose)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Allowed: true, Reason: ReasonNotRequired}
	ws := ""
	for _, c := range cats {
		if !c.Valid() {
			return Decision{}, fmt.Errorf("check consent: unknown data category %q", c)
		}
		var last *Event
		if p.NeedsExpressConsent(c) {
			e, err := scanEvent(s.db.Read.QueryRowContext(ctx, `SELECT `+eventColumns+`
				FROM consent_events e JOIN consent_texts t ON t.id = e.text_id
				WHERE e.patient_id = $1 AND e.purpose = $2 AND e.category = $3 AND e.recorded_at <= $4
				ORDER BY e.recorded_at DESC LIMIT 1`, patientID, string(purpose), string(c), micros(at)))
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return Decision{}, fmt.Errorf("read consent ledger: %w", err)
			default:
				last, ws = &e, e.WorkspaceID
			}
		}
		cd := evaluate(p, c, last, texts, at)
		if !cd.Allowed {
			d = cd
			break
		}
		if cd.Reason == ReasonGranted {
			if d.GrantID == "" {
				d.GrantID = cd.GrantID
			}
			d.Reason = ReasonGranted
		}
	}
	pr, _ := access.PrincipalFrom(ctx)
	entry := audit.Event{Action: "consent.check", ResourceType: string(access.KindConsent), ResourceID: d.GrantID,
		WorkspaceID: ws, PatientID: patientID, Purpose: string(purpose), Reason: d.Reason}
	if d.Allowed {
		entry.Decision, entry.Outcome = "allow", "success"
	} else {
		entry.Decision, entry.Outcome = "deny", "denied"
	}
	if _, err := s.appendAudit(ctx, pr, entry); err != nil {
		return Decision{}, err
	}
	return d, nil
}

// Standing is the state of one (purpose, category) for a patient now.
type Standing struct {
	Category DataCategory
	Decision
	Required bool      // express consent is needed for this use
	Since    time.Time // when the latest event was recorded
}

// PurposeState is a purpose with its current text and the patient's
// standing for each data category.
type PurposeState struct {
	Purpose
	Text      Text
	Standings []Standing
}

// Overview is what a patient's consent page shows.
type Overview struct {
	PatientID string
	Minor     bool
	Purposes  []PurposeState
	History   []Event // newest first
}

// Overview returns the patient's consents per purpose and the full ledger
// history, after the policy allows consent.read and the read is audited.
func (s *Service) Overview(ctx context.Context, p *access.Principal, patientID string) (Overview, error) {
	ws, r, err := s.authorize(ctx, p, access.ConsentRead, patientID, "")
	if err != nil {
		return Overview{}, err
	}
	now := s.now()
	o := Overview{PatientID: patientID}
	if o.Minor, err = s.subjects.IsMinor(ctx, patientID, now); err != nil {
		return Overview{}, fmt.Errorf("check minor: %w", err)
	}
	events, err := s.history(ctx, r, ws, patientID)
	if err != nil {
		return Overview{}, err
	}
	o.History = events
	all, err := s.allTexts(ctx)
	if err != nil {
		return Overview{}, err
	}
	for _, pu := range purposes {
		texts := all[pu.Code]
		ps := PurposeState{Purpose: pu}
		for i := range texts {
			if !texts[i].PublishedAt.After(now) {
				ps.Text = texts[i]
			}
		}
		for _, c := range Categories {
			var last *Event
			for i := range events { // newest first
				if events[i].Purpose == pu.Code && events[i].Category == c && !events[i].RecordedAt.After(now) {
					last = &events[i]
					break
				}
			}
			st := Standing{Category: c, Decision: evaluate(pu, c, last, texts, now), Required: pu.NeedsExpressConsent(c)}
			if last != nil {
				st.Since = last.RecordedAt
			}
			ps.Standings = append(ps.Standings, st)
		}
		o.Purposes = append(o.Purposes, ps)
	}
	return o, nil
}

func (s *Service) allTexts(ctx context.Context) (map[PurposeCode][]Text, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+textRead+` FROM consent_texts ORDER BY purpose, version`)
	if err != nil {
		return nil, fmt.Errorf("list consent texts: %w", err)
	}
	defer rows.Close()
	out := map[PurposeCode][]Text{}
	for rows.Next() {
		t, err := scanText(rows)
		if err != nil {
			return nil, fmt.Errorf("list consent texts: %w", err)
		}
		out[t.Purpose] = append(out[t.Purpose], t)
	}
	return out, rows.Err()
}

// history reads the patient's ledger, newest first, and opens the notes.
// It takes the receipt of the audited read: no receipt, no plaintext.
func (s *Service) history(ctx context.Context, r audit.Receipt, ws, patientID string) ([]Event, error) {
	if !r.Covers(patientID) {
		return nil, errors.New("read consent history: no audit receipt for this patient")
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+`
		FROM consent_events e JOIN consent_texts t ON t.id = e.text_id
		WHERE e.patient_id = $1 ORDER BY e.recorded_at DESC, e.id`, patientID)
	if err != nil {
		return nil, fmt.Errorf("read consent history: %w", err)
	}
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("read consent history: %w", err)
		}
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read consent history: %w", err)
	}
	var k *keys.Key
	for i := range out {
		if len(out[i].note) == 0 {
			continue
		}
		if k == nil {
			if k, err = s.keys.PatientKey(ctx, ws, patientID); err != nil {
				return nil, fmt.Errorf("patient key: %w", err)
			}
		}
		pt, err := keys.OpenField(k, out[i].note, noteAD(out[i].ID))
		if err != nil {
			return nil, fmt.Errorf("open consent note: %w", err)
		}
		out[i].Note = string(pt)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].RecordedAt.After(out[j].RecordedAt) })
	return out, nil
}

// Form opens the signed paper form stored with a ledger event, after the
// policy allows consent.read and the read is audited.
func (s *Service) Form(ctx context.Context, p *access.Principal, patientID, eventID string) (io.ReadCloser, string, error) {
	ws, r, err := s.authorize(ctx, p, access.ConsentRead, patientID, "")
	if err != nil {
		return nil, "", err
	}
	if !r.Covers(patientID) {
		return nil, "", errors.New("open signed form: no audit receipt for this patient")
	}
	e, err := scanEvent(s.db.Read.QueryRowContext(ctx, `SELECT `+eventColumns+`
		FROM consent_events e JOIN consent_texts t ON t.id = e.text_id WHERE e.id = $1 AND e.patient_id = $2`, eventID, patientID))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && e.formBlob == "") {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("read consent event: %w", err)
	}
	k, err := s.keys.PatientKey(ctx, ws, patientID)
	if err != nil {
		return nil, "", fmt.Errorf("patient key: %w", err)
	}
	rc, err := blob.OpenEncrypted(ctx, s.blobs, e.formBlob, k)
	if err != nil {
		return nil, "", fmt.Errorf("open signed form: %w", err)
	}
	return rc, e.FormType, nil
}

// decide loads the relationship facts and asks the policy, without
// auditing: the caller appends the entry once it knows the outcome.
func (s *Service) decide(ctx context.Context, p *access.Principal, a access.Action, patientID string) (string, access.Decision, error) {
	ws, err := s.subjects.Workspace(ctx, patientID)
	if errors.Is(err, ErrNoPatient) {
		_, aerr := s.appendAudit(ctx, p, audit.Event{Action: string(a), ResourceType: string(access.KindConsent),
			PatientID: patientID, Decision: "deny", Reason: "no_such_patient", Outcome: "denied"})
		if aerr != nil {
			return "", access.Decision{}, aerr
		}
		return "", access.Decision{}, &DeniedError{Reason: "no_such_patient"}
	}
	if err != nil {
		return "", access.Decision{}, fmt.Errorf("find patient workspace: %w", err)
	}
	res := access.Resource{Kind: access.KindConsent, WorkspaceID: ws, PatientID: patientID}
	if p != nil && p.UserID != "" && p.Has(access.RoleClinician) {
		if res.CareTeam, err = s.subjects.OnCareTeam(ctx, p.UserID, patientID); err != nil {
			return "", access.Decision{}, fmt.Errorf("check care team: %w", err)
		}
	}
	return ws, access.Decide(p, a, res), nil
}

// limitReader fails once more than left bytes were read, so an oversized
// form is never stored whole or in part.
type limitReader struct {
	r    io.Reader
	left int64
	over bool
}

var errTooLarge = errors.New("signed form too large")

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.over = true
		return 0, errTooLarge
	}
	return n, err
}
