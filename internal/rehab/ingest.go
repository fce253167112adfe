package rehab

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"

	"github.com/custodia-health/custodia/internal/access"
)

// IngestResult says what one upload changed. A retried upload creates
// nothing twice: items whose client id is already stored for the patient
// are listed as duplicates and skipped, with their exercises.
type IngestResult struct {
	Sessions     ItemResult `json:"sessions"`
	Exercises    ItemResult `json:"exercises"`
	Calibrations ItemResult `json:"calibrations"`
}

// ItemResult counts one kind of item.
type ItemResult struct {
	Received   int      `json:"received"`
	Created    int      `json:"created"`
	Duplicates []string `json:"duplicates,omitempty"` // client ids already stored
}

// Ingest stores an upload from a device or app for patientID. The body is
// decoded as a stream and validated completely before anything is written;
// then everything is written in one transaction, or nothing is. One audit
// entry records the request (with the item counts, which are not PHI).
func (s *Service) Ingest(ctx context.Context, p *access.Principal, patientID string, body io.Reader) (*IngestResult, error) {
	g, err := s.decide(ctx, p, access.RehabIngest, patientID, "rehab_batch")
	if err != nil {
		return nil, err
	}
	b, derr := DecodeBatch(body, s.now())
	if derr != nil {
		if _, err := s.append(ctx, p, access.RehabIngest, g, "rehab_batch", "rejected", "failure"); err != nil {
			return nil, err
		}
		return nil, derr
	}
	ns, ne, nc := b.Counts()
	counts := fmt.Sprintf("sessions=%d;exercises=%d;calibrations=%d", ns, ne, nc)
	if _, err := s.append(ctx, p, access.RehabIngest, g, "rehab_batch", counts, "success"); err != nil {
		return nil, err
	}
	res, err := s.store(ctx, g, b)
	if err != nil {
		// The entry above said the write was attempted; say it failed. Best
		// effort: the write did not happen, so nothing is unaccounted for.
		_, _ = s.append(ctx, p, access.RehabIngest, g, "rehab_batch", counts, "failure")
		return nil, err
	}
	return res, nil
}

// Rows per INSERT statement: five parameters a row keeps a full statement
// far below both databases' parameter limits.
const insertChunk = 200

// insertSizes are the row counts the multi-row inserts are prepared for: a
// full chunk and the powers of two below it. Any count is full chunks plus
// the binary digits of the rest (at most eight more statements), so each
// kind keeps len(insertSizes) statements instead of one per count.
var insertSizes = [...]int{insertChunk, 128, 64, 32, 16, 8, 4, 2, 1}

// splitRows calls fn with the sizes, from insertSizes, that add up to n, largest
// first.
func splitRows(n int, fn func(size int) error) error {
	for _, size := range insertSizes {
		for n >= size {
			if err := fn(size); err != nil {
				return err
			}
			n -= size
		}
	}
	return nil
}

type sessionRow struct {
	id    string
	ref   []byte
	year  int
	rec   []byte
	exRec [][]byte
	exYr  []int
}

// store seals every record with one patient-key lookup, then writes the
// batch in one transaction with prepared multi-row inserts.
func (s *Service) store(ctx context.Context, g grant, b *Batch) (*IngestResult, error) {
	k, err := s.keys.PatientKey(ctx, g.workspaceID, g.patientID)
	if err != nil {
		return nil, fmt.Errorf("ingest rehab batch: %w", err)
	}
	res := &IngestResult{}
	ns, ne, nc := b.Counts()
	res.Sessions.Received, res.Exercises.Received, res.Calibrations.Received = ns, ne, nc

	// Seal outside the transaction: on SQLite it holds the only writer.
	ids := newIDs(ns + nc)
	sessions := make([]sessionRow, ns)
	for i := range b.Sessions {
		in := &b.Sessions[i]
		r := &sessions[i]
		r.id, r.ref, r.year = ids[i], clientRef(k, tableSessions, in.ClientID), in.Start.Year()
		r.rec, err = seal(k, tableSessions, r.id, sessionRecord{
			ClientID: in.ClientID, DeviceID: in.DeviceID, Start: micros(in.Start), End: micros(in.End),
			Score: in.ActivityScore, GameTime: in.GameTimeSeconds,
		})
		if err != nil {
			return nil, err
		}
		r.exRec = make([][]byte, len(in.Exercises))
		r.exYr = make([]int, len(in.Exercises))
		for j := range in.Exercises {
			e := &in.Exercises[j]
			r.exYr[j] = e.Date.Year()
			r.exRec[j], err = seal(k, tableExercises, exerciseRowID(r.id, j), exerciseRecord{
				Type: e.Type, Inventory: e.Inventory, Level: e.Level, Side: e.Side, Date: micros(e.Date),
				Duration: e.DurationSeconds, Performance: e.Performance,
			})
			if err != nil {
				return nil, err
			}
		}
	}
	cals := make([]sessionRow, nc)
	for i := range b.Calibrations {
		in := &b.Calibrations[i]
		r := &cals[i]
		r.id, r.ref, r.year = ids[ns+i], clientRef(k, tableCalibrations, in.ClientID), in.MeasuredAt.Year()
		rec := calibrationRecord{ClientID: in.ClientID, DeviceID: in.DeviceID, MeasuredAt: micros(in.MeasuredAt)}
		for _, m := range in.Values {
			rec.Values = append(rec.Values, measurementRecord{Name: m.Name, Value: m.Value, At: micros(m.At)})
		}
		if r.rec, err = seal(k, tableCalibrations, r.id, rec); err != nil {
			return nil, err
		}
	}

	// Prepare before the transaction, for the same reason.
	sessSt, err := s.insertStatements(ctx, "sessions")
	if err != nil {
		return nil, err
	}
	calSt, err := s.insertStatements(ctx, "calibrations")
	if err != nil {
		return nil, err
	}
	exSt, err := s.insertStatements(ctx, "exercises")
	if err != nil {
		return nil, err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		res.Sessions.Created, res.Exercises.Created, res.Calibrations.Created = 0, 0, 0
		res.Sessions.Duplicates, res.Calibrations.Duplicates = nil, nil
		created, err := insertReturning(ctx, tx, sessSt, g.patientID, sessions)
		if err != nil {
			return fmt.Errorf("insert rehab sessions: %w", err)
		}
		args := make([]any, 0, 5*min(ne, insertChunk))
		n := 0
		flush := func() error {
			rest := args
			err := splitRows(n, func(size int) error {
				_, err := tx.StmtContext(ctx, exSt.forRows(size)).ExecContext(ctx, rest[:5*size]...)
				rest = rest[5*size:]
				return err
			})
			if err != nil {
				return err
			}
			res.Exercises.Created += n
			args, n = args[:0], 0
			return nil
		}
		for i := range sessions {
			r := &sessions[i]
			if !created[r.id] {
				res.Sessions.Duplicates = append(res.Sessions.Duplicates, b.Sessions[i].ClientID)
				continue
			}
			res.Sessions.Created++
			for j, rec := range r.exRec {
				args = append(args, r.id, j, g.patientID, r.exYr[j], rec)
				n++
				if n == insertChunk {
					if err := flush(); err != nil {
						return fmt.Errorf("insert rehab exercises: %w", err)
					}
				}
			}
		}
		if err := flush(); err != nil {
			return fmt.Errorf("insert rehab exercises: %w", err)
		}
		created, err = insertReturning(ctx, tx, calSt, g.patientID, cals)
		if err != nil {
			return fmt.Errorf("insert rehab calibrations: %w", err)
		}
		for i := range cals {
			if created[cals[i].id] {
				res.Calibrations.Created++
			} else {
				res.Calibrations.Duplicates = append(res.Calibrations.Duplicates, b.Calibrations[i].ClientID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest rehab batch: %w", err)
	}
	return res, nil
}

// insertReturning inserts rows (sessions or calibrations), skipping client
// ids already stored, and returns the ids it inserted.
func insertReturning(ctx context.Context, tx *sql.Tx, sts *stmtSet, patientID string, rows []sessionRow) (map[string]bool, error) {
	created := make(map[string]bool, len(rows))
	args := make([]any, 0, 5*min(len(rows), insertChunk))
	err := splitRows(len(rows), func(size int) error {
		part := rows[:size]
		rows = rows[size:]
		args = args[:0]
		for _, r := range part {
			args = append(args, r.id, patientID, r.ref, r.year, r.rec)
		}
		rs, err := tx.StmtContext(ctx, sts.forRows(size)).QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		for rs.Next() {
			var id string
			if err := rs.Scan(&id); err != nil {
				rs.Close()
				return err
			}
			created[id] = true
		}
		if err := rs.Close(); err != nil {
			return err
		}
		return rs.Err()
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// stmtSet holds a kind's prepared inserts, one per size in insertSizes.
type stmtSet [len(insertSizes)]*sql.Stmt

func (s *stmtSet) forRows(n int) *sql.Stmt {
	for i, size := range insertSizes {
		if size == n {
			return s[i]
		}
	}
	panic(fmt.Sprintf("rehab: no insert prepared for %d rows", n))
}

// insertStatements prepares (once per service) the inserts of kind, one
// per size in insertSizes: the statement text is large enough that parsing
// it per batch would cost as much as running it, and a fixed set of sizes
// bounds the statements kept to len(insertSizes) per kind.
func (s *Service) insertStatements(ctx context.Context, kind string) (*stmtSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set, ok := s.stmts[kind]; ok {
		return set, nil
	}
	set := &stmtSet{}
	for i, n := range insertSizes {
		st, err := s.db.Write.PrepareContext(ctx, insertSQL(s.dialectParam, kind, n))
		if err != nil {
			for _, st := range set[:i] {
				st.Close()
			}
			return nil, fmt.Errorf("prepare rehab insert: %w", err)
		}
		set[i] = st
	}
	s.stmts[kind] = set
	return set, nil
}

func (s *Service) dialectParam(i int) string { return s.db.Dialect.Param(i) }

// insertSQL is a multi-row insert of n rows of kind.
func insertSQL(param func(int) string, kind string, n int) string {
	var head, tail string
	switch kind {
	case "sessions":
		head = "INSERT INTO rehab_sessions (id, patient_id, client_ref, year, record) VALUES "
		tail = " ON CONFLICT (patient_id, client_ref) DO NOTHING RETURNING id"
	case "calibrations":
		head = "INSERT INTO rehab_calibrations (id, patient_id, client_ref, year, record) VALUES "
		tail = " ON CONFLICT (patient_id, client_ref) DO NOTHING RETURNING id"
	case "exercises":
		head = "INSERT INTO rehab_exercises (session_id, ordinal, patient_id, year, record) VALUES "
	default:
		panic("rehab: unknown insert " + kind)
	}
	var b strings.Builder
	b.Grow(len(head) + len(tail) + n*16)
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range 5 {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(param(i*5 + j + 1))
		}
		b.WriteByte(')')
	}
	b.WriteString(tail)
	return b.String()
}
