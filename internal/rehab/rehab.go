// Package rehab is remote rehabilitation: a therapist enrols a patient in a
// programme of exercises, devices and apps upload the sessions, exercises and
// calibration measurements they record, and therapist and patient follow the
// progress. Everything clinical is PHI: each row's values are packed into one
// JSON record sealed with the patient's key, every read and write is decided
// by the access policy and written to the audit log first, and records are
// decrypted only with the audit receipt in hand.
package rehab

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/keys"
)

// Errors the service returns; the web layer maps each to one status.
var (
	// ErrNotFound means the patient does not exist or the principal may not
	// know that it does (the policy said deny and not visible).
	ErrNotFound = errors.New("rehab: not found")
	// ErrForbidden means the principal may see the patient's rehabilitation
	// record but not do this to it.
	ErrForbidden = errors.New("rehab: not permitted")
	// ErrNoPortal means no portal invitation service is connected yet.
	ErrNoPortal = errors.New("rehab: patient portal invitations are not available")
	// ErrPortalMinor refuses a direct portal invitation for a patient under
	// 18: their access goes through a parent or guardian (RULES §2).
	ErrPortalMinor = errors.New("rehab: a patient under 18 gets portal access through a personal representative")
)

// Side is the side of the body an exercise works.
type Side string

// The sides.
const (
	Left  Side = "left"
	Right Side = "right"
	Both  Side = "both"
)

// Valid reports whether s is left, right or both.
func (s Side) Valid() bool { return s == Left || s == Right || s == Both }

// Session is one period of use of a rehabilitation device or app.
type Session struct {
	ID              string     `json:"id"`
	ClientID        string     `json:"client_id"` // the device's own id for the session; retries reuse it
	DeviceID        string     `json:"device_id"`
	Start           time.Time  `json:"start"`
	End             time.Time  `json:"end"`
	ActivityScore   float64    `json:"activity_score"`    // 0–100
	GameTimeSeconds float64    `json:"game_time_seconds"` // time spent in the game
	Exercises       []Exercise `json:"exercises"`
}

// Exercise is one exercise performed within a session.
type Exercise struct {
	Type            string    `json:"type"`      // e.g. "wrist_flexion"
	Inventory       string    `json:"inventory"` // the equipment or game items used
	Level           int       `json:"level"`     // difficulty, 1–100
	Side            Side      `json:"side"`
	Date            time.Time `json:"date"`
	DurationSeconds float64   `json:"duration_seconds"`
	Performance     float64   `json:"performance"` // 0–100
}

// Calibration is one calibration of a device for the patient: a series of
// measured values, each with its own time.
type Calibration struct {
	ID         string        `json:"id"`
	ClientID   string        `json:"client_id"`
	DeviceID   string        `json:"device_id"`
	MeasuredAt time.Time     `json:"measured_at"`
	Values     []Measurement `json:"values"`
}

// Measurement is one calibration value.
type Measurement struct {
	Name  string    `json:"name"` // what was measured, e.g. "grip_force_n"
	Value float64   `json:"value"`
	At    time.Time `json:"at"`
}

// Programme is what a therapist planned for a patient.
type Programme struct {
	Version   int               `json:"version"`
	Name      string            `json:"name"`
	Exercises []PlannedExercise `json:"exercises"`
	Notes     string            `json:"notes,omitempty"`
	CreatedBy string            `json:"created_by"`
	CreatedAt time.Time         `json:"created_at"`
}

// PlannedExercise is one exercise of a programme.
type PlannedExercise struct {
	Type             string `json:"type"`
	Level            int    `json:"level"`
	Side             Side   `json:"side"`
	FrequencyPerWeek int    `json:"frequency_per_week"`
}

// CareTeam answers the relationship facts the access policy needs about a
// principal and a patient. The records domain owns patients and care teams;
// DBCareTeam reads its tables, and tests may supply their own.
type CareTeam interface {
	// OnCareTeam reports whether userID is on patientID's care team.
	OnCareTeam(ctx context.Context, patientID, userID string) (bool, error)
	// WorkspaceOf returns the workspace that holds the patient, or an error
	// wrapping ErrNotFound.
	WorkspaceOf(ctx context.Context, patientID string) (string, error)
}

// DBCareTeam reads the records domain's patients(id, workspace_id) and
// care_team(patient_id, user_id) tables.
//
// TODO(lead): once records is merged, check this against its schema (for
// example a removed_at column on care_team) and add the foreign keys from
// the rehab tables to patients(id).
type DBCareTeam struct{ DB *db.DB }

// OnCareTeam implements CareTeam.
func (c DBCareTeam) OnCareTeam(ctx context.Context, patientID, userID string) (bool, error) {
	var one int
	err := c.DB.Read.QueryRowContext(ctx,
		`SELECT 1 FROM care_team WHERE patient_id = $1 AND user_id = $2 AND removed_at IS NULL`, patientID, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read care team: %w", err)
	}
	return true, nil
}

// WorkspaceOf implements CareTeam.
func (c DBCareTeam) WorkspaceOf(ctx context.Context, patientID string) (string, error) {
	var ws string
	err := c.DB.Read.QueryRowContext(ctx, `SELECT workspace_id FROM patients WHERE id = $1`, patientID).Scan(&ws)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read patient workspace: %w", err)
	}
	return ws, nil
}

// PortalInviter invites a patient to the patient portal, where they see
// what their therapist entered. Identity provides invitations.
//
// TODO(lead): after identity merges, wire its invitation service here
// (an adapter that creates a patient-role invitation linked to patientID
// and mails it) and pass it to NewService through Options.
type PortalInviter interface {
	InvitePatient(ctx context.Context, inviter *access.Principal, workspaceID, patientID, email string) error
}

// Options are the optional parts of a Service.
type Options struct {
	// Portal sends portal invitations; nil until identity is wired.
	Portal PortalInviter
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// Service is the rehabilitation domain over a database, the key ring and the
// audit log.
type Service struct {
	db     *db.DB
	keys   *keys.Keyring
	audit  audit.Appender
	facts  CareTeam
	portal PortalInviter
	now    func() time.Time

	mu    sync.Mutex
	stmts map[string]*stmtSet // prepared multi-row inserts by kind
}

// NewService returns the rehabilitation service.
func NewService(d *db.DB, k *keys.Keyring, a audit.Appender, facts CareTeam, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{db: d, keys: k, audit: a, facts: facts, portal: opts.Portal, now: opts.Now, stmts: map[string]*stmtSet{}}
}

// Close releases the prepared statements.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for k, set := range s.stmts {
		for _, st := range set {
			err = errors.Join(err, st.Close())
		}
		delete(s.stmts, k)
	}
	return err
}
