package capture

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
)

// Connection is a patient's current connection to a doctor. ID is the id of
// the connect event that opened it; revoking it names that id.
type Connection struct {
	ID          string    `json:"id"`
	ClinicianID string    `json:"clinician_id"`
	ConnectedAt time.Time `json:"connected_at"`
}

// Connected reports whether patientID is currently connected to the user
// clinicianID: the pair's latest event is a connect.
func (s *Service) Connected(ctx context.Context, patientID, clinicianID string) (bool, error) {
	if patientID == "" || clinicianID == "" {
		return false, nil
	}
	var ev string
	err := s.DB.Read.QueryRowContext(ctx, `SELECT event FROM capture_connection_events WHERE patient_id = $1 AND clinician_id = $2
		ORDER BY seq DESC LIMIT 1`, patientID, clinicianID).Scan(&ev)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("load connection: %w", err)
	}
	return ev == "connect", nil
}

func (s *Service) requirePatient(p *access.Principal) error {
	if p == nil || p.PatientID == "" || (p.Role != access.RolePatient && p.Role != access.RoleRepresentative) {
		return ErrNotPatient
	}
	return nil
}

// ownResource is p's own captures, for the consent actions: recording and
// reading one's own connections is decided as the patient's consent.
func ownResource(p *access.Principal) access.Resource {
	return access.Resource{Kind: access.KindConsent, WorkspaceID: p.WorkspaceID, PatientID: p.PatientID}
}

// Connections lists the doctors p (a patient) is connected to now.
func (s *Service) Connections(ctx context.Context, p *access.Principal) ([]Connection, error) {
	if err := s.requirePatient(p); err != nil {
		return nil, err
	}
	p, err := s.self(ctx, p)
	if err != nil {
		return nil, err
	}
	if _, err := s.authorize(ctx, p, access.ConsentRead, ownResource(p), "capture.connections", "patient", p.PatientID); err != nil {
		return nil, err
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT id, clinician_id, event, at FROM capture_connection_events
		WHERE patient_id = $1 AND workspace_id = $2 ORDER BY seq DESC`, p.PatientID, p.WorkspaceID)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	var out []Connection
	for rows.Next() {
		var id, clin, ev string
		var at int64
		if err := rows.Scan(&id, &clin, &ev, &at); err != nil {
			return nil, fmt.Errorf("list connections: %w", err)
		}
		if seen[clin] {
			continue
		}
		seen[clin] = true
		if ev == "connect" {
			out = append(out, Connection{ID: id, ClinicianID: clin, ConnectedAt: time.UnixMicro(at)})
		}
	}
	return out, rows.Err()
}

// Connect records p's (a patient's) consent that the doctor who signs in
// with email, in p's practice, may see p's captures. Connecting to a doctor
// already connected returns the existing connection.
func (s *Service) Connect(ctx context.Context, p *access.Principal, email string) (Connection, error) {
	if err := s.requirePatient(p); err != nil {
		return Connection{}, err
	}
	p, err := s.self(ctx, p)
	if err != nil {
		return Connection{}, err
	}
	clin, ok := s.Clinician(ctx, strings.TrimSpace(email), p.WorkspaceID)
	if !ok {
		return Connection{}, ErrNoClinician
	}
	return s.connect(ctx, p, clin)
}

func (s *Service) connect(ctx context.Context, p *access.Principal, clinicianID string) (Connection, error) {
	if cur, err := s.current(ctx, p.PatientID, clinicianID); err == nil {
		return cur, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Connection{}, err
	}
	c := Connection{ID: newID(), ClinicianID: clinicianID, ConnectedAt: s.now()}
	rec, err := s.authorize(ctx, p, access.ConsentRecord, ownResource(p), "capture.connect", "connection", c.ID)
	if err != nil {
		return Connection{}, err
	}
	if err := s.appendEvent(ctx, rec, p, c.ID, clinicianID, "connect", c.ConnectedAt); err != nil {
		return Connection{}, err
	}
	return c, nil
}

// current is the pair's open connection, or ErrNotFound.
func (s *Service) current(ctx context.Context, patientID, clinicianID string) (Connection, error) {
	var c Connection
	var ev string
	var at int64
	err := s.DB.Read.QueryRowContext(ctx, `SELECT connection_id, clinician_id, event, at FROM capture_connection_events
		WHERE patient_id = $1 AND clinician_id = $2 ORDER BY seq DESC LIMIT 1`, patientID, clinicianID).Scan(&c.ID, &c.ClinicianID, &ev, &at)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && ev != "connect") {
		return Connection{}, ErrNotFound
	}
	if err != nil {
		return Connection{}, fmt.Errorf("load connection: %w", err)
	}
	c.ConnectedAt = time.UnixMicro(at)
	return c, nil
}

// Revoke ends p's connection id: from now on the doctor sees none of p's
// captures that are not part of a case record. Revoking a connection that
// is not open is ErrNotFound.
func (s *Service) Revoke(ctx context.Context, p *access.Principal, id string) error {
	if err := s.requirePatient(p); err != nil {
		return err
	}
	p, err := s.self(ctx, p)
	if err != nil {
		return err
	}
	var clin string
	err = s.DB.Read.QueryRowContext(ctx, `SELECT clinician_id FROM capture_connection_events WHERE id = $1 AND patient_id = $2 AND event = 'connect'`,
		id, p.PatientID).Scan(&clin)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("load connection: %w", err)
	}
	cur, err := s.current(ctx, p.PatientID, clin)
	if err != nil {
		return err
	}
	if cur.ID != id {
		return ErrNotFound
	}
	rec, err := s.authorize(ctx, p, access.ConsentRecord, ownResource(p), "capture.revoke", "connection", id)
	if err != nil {
		return err
	}
	return s.appendEvent(ctx, rec, p, id, clin, "revoke", s.now())
}

// appendEvent writes one connection event; it needs the receipt of the
// audit entry that recorded it.
func (s *Service) appendEvent(ctx context.Context, rec audit.Receipt, p *access.Principal, connID, clinicianID, ev string, at time.Time) error {
	if !rec.Covers(p.PatientID) {
		return ErrNoReceipt
	}
	id := connID
	if ev != "connect" {
		id = newID()
	}
	// The pair's events are ordered by a sequence the database assigns, not
	// by the wall clock: a clock stepped back must not let a revoke sort
	// before the connect it ends.
	_, err := s.DB.Write.ExecContext(ctx, `INSERT INTO capture_connection_events
		(id, seq, workspace_id, patient_id, clinician_id, event, connection_id, recorded_by, at)
		VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM capture_connection_events WHERE patient_id = $3 AND clinician_id = $4),
		$2, $3, $4, $5, $6, $7, $8)`,
		id, p.WorkspaceID, p.PatientID, clinicianID, ev, connID, p.UserID, at.UnixMicro())
	if err != nil {
		return fmt.Errorf("record connection %s: %w", ev, err)
	}
	return nil
}
