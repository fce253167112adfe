package rehab

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"sort"
	"strconv"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/keys"
)

// ErrNoProgramme means the patient has not been enrolled in a programme.
var ErrNoProgramme = errors.New("rehab: the patient has no programme yet")

// Overview is everything the rehabilitation pages show about a patient,
// read under one audit entry.
type Overview struct {
	Programme    *Programme    // nil before enrolment
	Recent       []Session     // the newest sessions in the range, newest first
	Calibrations []Calibration // the newest calibrations in the range, newest first
	Progress     *Progress
}

// opened is an allowed, audited read: the receipt and the patient's key.
type opened struct {
	g   grant
	rc  audit.Receipt
	key *keys.Key
}

// openFor decides a read, writes its audit entry and unwraps the patient's
// key. Nothing is decrypted before the entry is durable.
func (s *Service) openFor(ctx context.Context, p *access.Principal, a access.Action, patientID, resourceType string) (*opened, error) {
	g, err := s.decide(ctx, p, a, patientID, resourceType)
	if err != nil {
		return nil, err
	}
	rc, err := s.append(ctx, p, a, g, resourceType, "", "success")
	if err != nil {
		return nil, err
	}
	k, err := s.keys.PatientKey(ctx, g.workspaceID, g.patientID)
	if err != nil {
		return nil, fmt.Errorf("open rehab record: %w", err)
	}
	return &opened{g: g, rc: rc, key: k}, nil
}

// Overview reads the programme, the newest sessions and calibrations and the
// progress over rng, under one audit entry.
func (s *Service) Overview(ctx context.Context, p *access.Principal, patientID string, rng Range, recent int) (*Overview, error) {
	o, err := s.openFor(ctx, p, access.RehabRead, patientID, "rehab_overview")
	if err != nil {
		return nil, err
	}
	ov := &Overview{}
	if ov.Programme, err = s.latestProgramme(ctx, o); err != nil && !errors.Is(err, ErrNoProgramme) {
		return nil, err
	}
	now := s.now().UTC()
	from := rng.from(now)
	ss, err := s.loadSessions(ctx, o, from)
	if err != nil {
		return nil, err
	}
	// The newest sessions are known before the exercises stream past, so
	// only theirs are kept; the rest only feed the aggregates.
	ss = sortNewest(ss)
	want := make(map[string]bool, recent)
	for _, x := range ss[:min(recent, len(ss))] {
		want[x.id] = true
	}
	agg := newAggregator(rng, from, now, sessionRecords(ss))
	var kept []storedExercise
	err = s.loadExercises(ctx, o, from, nil, func(sessionID []byte, ordinal int, e *exerciseRecord) {
		agg.add(e)
		if want[string(sessionID)] {
			kept = append(kept, storedExercise{sessionID: string(sessionID), ordinal: ordinal, rec: *e})
		}
	})
	if err != nil {
		return nil, err
	}
	ov.Progress = agg.finish()
	ov.Recent = newest(ss, kept, recent)
	if ov.Calibrations, err = s.loadCalibrations(ctx, o, from, 5); err != nil {
		return nil, err
	}
	return ov, nil
}

// Progress aggregates the patient's exercises and sessions over rng.
func (s *Service) Progress(ctx context.Context, p *access.Principal, patientID string, rng Range) (*Progress, error) {
	o, err := s.openFor(ctx, p, access.RehabRead, patientID, "rehab_progress")
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	from := rng.from(now)
	ss, err := s.loadSessions(ctx, o, from)
	if err != nil {
		return nil, err
	}
	agg := newAggregator(rng, from, now, sessionRecords(ss))
	if err := s.loadExercises(ctx, o, from, nil, func(_ []byte, _ int, e *exerciseRecord) { agg.add(e) }); err != nil {
		return nil, err
	}
	return agg.finish(), nil
}

// Sessions returns the newest sessions within rng with their exercises,
// newest first, at most limit.
func (s *Service) Sessions(ctx context.Context, p *access.Principal, patientID string, rng Range, limit int) ([]Session, error) {
	o, err := s.openFor(ctx, p, access.RehabRead, patientID, "rehab_sessions")
	if err != nil {
		return nil, err
	}
	from := rng.from(s.now().UTC())
	ss, err := s.loadSessions(ctx, o, from)
	if err != nil {
		return nil, err
	}
	ss = sortNewest(ss)
	ss = ss[:min(limit, len(ss))]
	want := make(map[string]bool, len(ss))
	for _, x := range ss {
		want[x.id] = true
	}
	var es []storedExercise
	err = s.loadExercises(ctx, o, time.Time{}, want, func(sessionID []byte, ordinal int, e *exerciseRecord) {
		es = append(es, storedExercise{sessionID: string(sessionID), ordinal: ordinal, rec: *e})
	})
	if err != nil {
		return nil, err
	}
	return newest(ss, es, limit), nil
}

// Calibrations returns the newest calibrations within rng, at most limit.
func (s *Service) Calibrations(ctx context.Context, p *access.Principal, patientID string, rng Range, limit int) ([]Calibration, error) {
	o, err := s.openFor(ctx, p, access.RehabRead, patientID, "rehab_calibrations")
	if err != nil {
		return nil, err
	}
	return s.loadCalibrations(ctx, o, rng.from(s.now().UTC()), limit)
}

type storedSession struct {
	id  string
	rec sessionRecord
}

type storedExercise struct {
	sessionID string
	ordinal   int
	rec       exerciseRecord
}

func sessionRecords(ss []storedSession) []sessionRecord {
	out := make([]sessionRecord, len(ss))
	for i := range ss {
		out[i] = ss[i].rec
	}
	return out
}

func sortNewest(ss []storedSession) []storedSession {
	sort.Slice(ss, func(i, j int) bool { return ss[i].rec.Start > ss[j].rec.Start })
	return ss
}

// yearOf is the first year a read from `from` must look at; rows carry
// their year in plaintext so older years are never decrypted.
func yearOf(from time.Time) int {
	if from.IsZero() {
		return 0
	}
	return from.UTC().Year()
}

func (s *Service) loadSessions(ctx context.Context, o *opened, from time.Time) ([]storedSession, error) {
	rows, err := s.db.Read.QueryContext(ctx,
		`SELECT id, record FROM rehab_sessions WHERE patient_id = $1 AND year >= $2`, o.g.patientID, yearOf(from))
	if err != nil {
		return nil, fmt.Errorf("read rehab sessions: %w", err)
	}
	defer rows.Close()
	var out []storedSession
	fromUS := micros(from)
	for rows.Next() {
		var x storedSession
		var ct sql.RawBytes
		if err := rows.Scan(&x.id, &ct); err != nil {
			return nil, fmt.Errorf("read rehab sessions: %w", err)
		}
		if err := open(o.rc, o.g.patientID, o.key, tableSessions, x.id, ct, &x.rec); err != nil {
			return nil, err
		}
		if from.IsZero() || x.rec.Start >= fromUS {
			out = append(out, x)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rehab sessions: %w", err)
	}
	return out, nil
}

// loadExercises decrypts the exercises dated from `from` on (or, with only
// set, those of the given sessions) and hands each to fn. The session id and
// record are only valid during the call.
func (s *Service) loadExercises(ctx context.Context, o *opened, from time.Time, only map[string]bool,
	fn func(sessionID []byte, ordinal int, e *exerciseRecord)) error {
	var rows *sql.Rows
	var err error
	if only != nil {
		if len(only) == 0 {
			return nil
		}
		rows, err = s.exercisesOf(ctx, o.g.patientID, only)
	} else {
		rows, err = s.db.Read.QueryContext(ctx,
			`SELECT session_id, ordinal, record FROM rehab_exercises WHERE patient_id = $1 AND year >= $2`,
			o.g.patientID, yearOf(from))
	}
	if err != nil {
		return fmt.Errorf("read rehab exercises: %w", err)
	}
	defer rows.Close()
	// SQLite steps on this goroutine while another decrypts and decodes the
	// previous rows: the two halves cost about the same, so a long range
	// reads in about half the time on two cores.
	fromUS := micros(from)
	full := make(chan *exerciseBatch, 2)
	free := make(chan *exerciseBatch, 3)
	for range 3 {
		free <- &exerciseBatch{}
	}
	done := make(chan error, 1)
	go func() {
		var rec exerciseRecord
		var failed error
		for b := range full {
			for _, it := range b.items {
				if failed != nil {
					break
				}
				sid := b.buf[it.sid : it.sid+it.sidLen]
				ct := b.buf[it.sid+it.sidLen : it.end]
				if err := open(o.rc, o.g.patientID, o.key, tableExercises, exerciseRowID(string(sid), it.ordinal), ct, &rec); err != nil {
					failed = err
					break
				}
				if only != nil || from.IsZero() || rec.Date >= fromUS {
					fn(sid, it.ordinal, &rec)
				}
			}
			free <- b
		}
		done <- failed
	}()
	b := <-free
	b.reset()
	var scanErr error
	for rows.Next() {
		var sid, ct sql.RawBytes
		var ordinal int
		if scanErr = rows.Scan(&sid, &ordinal, &ct); scanErr != nil {
			break
		}
		b.add(sid, ordinal, ct)
		if len(b.items) == cap(b.items) {
			full <- b
			b = <-free
			b.reset()
		}
	}
	full <- b
	close(full)
	if err := <-done; err != nil {
		return err
	}
	if scanErr != nil {
		return fmt.Errorf("read rehab exercises: %w", scanErr)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read rehab exercises: %w", err)
	}
	return nil
}

// exerciseBatch carries scanned rows to the decrypting goroutine: one slab
// of bytes and offsets into it, reused, so scanning allocates nothing per row.
type exerciseBatch struct {
	buf   []byte
	items []exerciseItem
}

type exerciseItem struct {
	sid, sidLen, end int
	ordinal          int
}

const exerciseBatchRows = 256

func (b *exerciseBatch) reset() {
	b.buf = b.buf[:0]
	if b.items == nil {
		b.items = make([]exerciseItem, 0, exerciseBatchRows)
	}
	b.items = b.items[:0]
}

func (b *exerciseBatch) add(sid []byte, ordinal int, ct []byte) {
	start := len(b.buf)
	b.buf = append(append(b.buf, sid...), ct...)
	b.items = append(b.items, exerciseItem{sid: start, sidLen: len(sid), end: len(b.buf), ordinal: ordinal})
}

func (s *Service) exercisesOf(ctx context.Context, patientID string, sessions map[string]bool) (*sql.Rows, error) {
	q := `SELECT session_id, ordinal, record FROM rehab_exercises WHERE patient_id = $1 AND session_id IN (`
	args := []any{patientID}
	for id := range sessions {
		if len(args) > 1 {
			q += ","
		}
		args = append(args, id)
		q += "$" + strconv.Itoa(len(args))
	}
	return s.db.Read.QueryContext(ctx, q+")", args...)
}

func (s *Service) loadCalibrations(ctx context.Context, o *opened, from time.Time, limit int) ([]Calibration, error) {
	rows, err := s.db.Read.QueryContext(ctx,
		`SELECT id, record FROM rehab_calibrations WHERE patient_id = $1 AND year >= $2`, o.g.patientID, yearOf(from))
	if err != nil {
		return nil, fmt.Errorf("read rehab calibrations: %w", err)
	}
	defer rows.Close()
	var out []Calibration
	for rows.Next() {
		var id string
		var ct sql.RawBytes
		var rec calibrationRecord
		if err := rows.Scan(&id, &ct); err != nil {
			return nil, fmt.Errorf("read rehab calibrations: %w", err)
		}
		if err := open(o.rc, o.g.patientID, o.key, tableCalibrations, id, ct, &rec); err != nil {
			return nil, err
		}
		at := fromMicros(rec.MeasuredAt)
		if !from.IsZero() && at.Before(from) {
			continue
		}
		c := Calibration{ID: id, ClientID: rec.ClientID, DeviceID: rec.DeviceID, MeasuredAt: at}
		for _, m := range rec.Values {
			c.Values = append(c.Values, Measurement{Name: m.Name, Value: m.Value, At: fromMicros(m.At)})
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rehab calibrations: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MeasuredAt.After(out[j].MeasuredAt) })
	return out[:min(limit, len(out))], nil
}

// newest turns the newest limit sessions into Sessions with their exercises.
func newest(ss []storedSession, es []storedExercise, limit int) []Session {
	sort.Slice(ss, func(i, j int) bool { return ss[i].rec.Start > ss[j].rec.Start })
	ss = ss[:min(limit, len(ss))]
	idx := make(map[string]int, len(ss))
	out := make([]Session, len(ss))
	for i, x := range ss {
		idx[x.id] = i
		out[i] = Session{
			ID: x.id, ClientID: x.rec.ClientID, DeviceID: x.rec.DeviceID,
			Start: fromMicros(x.rec.Start), End: fromMicros(x.rec.End),
			ActivityScore: x.rec.Score, GameTimeSeconds: x.rec.GameTime, Exercises: []Exercise{},
		}
	}
	type placed struct {
		ord int
		ex  Exercise
	}
	byS := map[int][]placed{}
	for _, e := range es {
		i, ok := idx[e.sessionID]
		if !ok {
			continue
		}
		r := e.rec
		byS[i] = append(byS[i], placed{e.ordinal, Exercise{
			Type: r.Type, Inventory: r.Inventory, Level: r.Level, Side: r.Side, Date: fromMicros(r.Date),
			DurationSeconds: r.Duration, Performance: r.Performance,
		}})
	}
	for i, ps := range byS {
		sort.Slice(ps, func(a, b int) bool { return ps[a].ord < ps[b].ord })
		for _, p := range ps {
			out[i].Exercises = append(out[i].Exercises, p.ex)
		}
	}
	return out
}

// Programme returns the programme in force for the patient.
func (s *Service) Programme(ctx context.Context, p *access.Principal, patientID string) (*Programme, error) {
	o, err := s.openFor(ctx, p, access.RehabRead, patientID, "rehab_programme")
	if err != nil {
		return nil, err
	}
	return s.latestProgramme(ctx, o)
}

func (s *Service) latestProgramme(ctx context.Context, o *opened) (*Programme, error) {
	var id, by string
	var version int
	var ct []byte
	err := s.db.Read.QueryRowContext(ctx,
		`SELECT id, version, created_by, record FROM rehab_programmes WHERE patient_id = $1 ORDER BY version DESC LIMIT 1`,
		o.g.patientID).Scan(&id, &version, &by, &ct)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoProgramme
	}
	if err != nil {
		return nil, fmt.Errorf("read rehab programme: %w", err)
	}
	var rec programmeRecord
	if err := open(o.rc, o.g.patientID, o.key, tableProgrammes, id, ct, &rec); err != nil {
		return nil, err
	}
	return &Programme{Version: version, Name: rec.Name, Exercises: rec.Exercises, Notes: rec.Notes,
		CreatedBy: by, CreatedAt: fromMicros(rec.CreatedAt)}, nil
}

// ProgrammeInput is a therapist's programme as submitted.
type ProgrammeInput struct {
	Name      string            `json:"name"`
	Exercises []PlannedExercise `json:"exercises"`
	Notes     string            `json:"notes"`
}

// Validate names every bad field of in, or returns nil.
func (in *ProgrammeInput) Validate() error {
	v := &validator{fields: map[string]string{}}
	v.text("name", &in.Name, 200, true)
	v.text("notes", &in.Notes, 4000, false)
	switch {
	case len(in.Exercises) == 0:
		v.bad("exercises", "must plan at least one exercise")
	case len(in.Exercises) > 50:
		v.bad("exercises", "at most 50 exercises")
	}
	for i := range in.Exercises {
		e := &in.Exercises[i]
		path := fmt.Sprintf("exercises[%d]", i)
		v.text(path+".type", &e.Type, 100, true)
		if e.Level < 1 || e.Level > 100 {
			v.bad(path+".level", "must be between 1 and 100")
		}
		if !e.Side.Valid() {
			v.bad(path+".side", "must be left, right or both")
		}
		if e.FrequencyPerWeek < 1 || e.FrequencyPerWeek > 50 {
			v.bad(path+".frequency_per_week", "must be between 1 and 50")
		}
	}
	if len(v.fields) > 0 {
		return &ValidationError{Fields: v.fields, Truncated: v.truncated}
	}
	return nil
}

// SetProgramme enrols the patient in a programme, or replaces the one in
// force with a new version (earlier versions are kept).
func (s *Service) SetProgramme(ctx context.Context, p *access.Principal, patientID string, in ProgrammeInput) (*Programme, error) {
	g, err := s.decide(ctx, p, access.RehabPlan, patientID, "rehab_programme")
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	id := newIDs(1)[0]
	if _, err := s.append(ctx, p, access.RehabPlan, g, "rehab_programme", id, "success"); err != nil {
		return nil, err
	}
	k, err := s.keys.PatientKey(ctx, g.workspaceID, g.patientID)
	if err != nil {
		return nil, fmt.Errorf("set rehab programme: %w", err)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	ct, err := seal(k, tableProgrammes, id, programmeRecord{Name: in.Name, Exercises: in.Exercises, Notes: in.Notes, CreatedAt: micros(now)})
	if err != nil {
		return nil, err
	}
	var version int
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM rehab_programmes WHERE patient_id = $1`,
			patientID).Scan(&version); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO rehab_programmes (id, patient_id, version, created_by, record) VALUES ($1, $2, $3, $4, $5)`,
			id, patientID, version, p.UserID, ct)
		return err
	})
	if err != nil {
		_, _ = s.append(ctx, p, access.RehabPlan, g, "rehab_programme", id, "failure")
		return nil, fmt.Errorf("set rehab programme: %w", err)
	}
	return &Programme{Version: version, Name: in.Name, Exercises: in.Exercises, Notes: in.Notes, CreatedBy: p.UserID, CreatedAt: now}, nil
}

// InviteToPortal asks the portal to invite the patient at email, so they can
// follow their progress. Only a therapist who may plan the patient's
// rehabilitation may do it.
func (s *Service) InviteToPortal(ctx context.Context, p *access.Principal, patientID, email string) error {
	g, err := s.decide(ctx, p, access.RehabPlan, patientID, "portal_invitation")
	if err != nil {
		return err
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return &ValidationError{Fields: map[string]string{"email": "must be an email address, e.g. name@example.org"}}
	}
	if s.portal == nil {
		return ErrNoPortal
	}
	if _, err := s.append(ctx, p, access.RehabPlan, g, "portal_invitation", "", "success"); err != nil {
		return err
	}
	if err := s.portal.InvitePatient(ctx, p, g.workspaceID, patientID, email); err != nil {
		// The entry above said the invitation was under way; record that it
		// did not happen.
		_, _ = s.append(ctx, p, access.RehabPlan, g, "portal_invitation", "", "failure")
		return fmt.Errorf("invite patient to portal: %w", err)
	}
	return nil
}
