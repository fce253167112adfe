// Package consenttest holds a simple in-memory consent.Subjects for tests
// and demos until the records domain implements it.
package consenttest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/custodia-health/custodia/internal/consent"
)

// Patient is what Subjects knows about one patient.
type Patient struct {
	WorkspaceID     string
	MinorUntil      time.Time       // the patient is a minor before this time
	Representatives map[string]bool // user ids
	CareTeam        map[string]bool // user ids
}

// Subjects is an in-memory consent.Subjects.
type Subjects struct {
	mu       sync.Mutex
	patients map[string]*Patient
}

// New returns an empty Subjects.
func New() *Subjects { return &Subjects{patients: map[string]*Patient{}} }

// Add registers a patient.
func (s *Subjects) Add(patientID string, p Patient) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Representatives == nil {
		p.Representatives = map[string]bool{}
	}
	if p.CareTeam == nil {
		p.CareTeam = map[string]bool{}
	}
	s.patients[patientID] = &p
}

func (s *Subjects) get(id string) (*Patient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.patients[id]
	if !ok {
		return nil, fmt.Errorf("find patient: %w", consent.ErrNoPatient)
	}
	return p, nil
}

// IsMinor implements consent.Subjects.
func (s *Subjects) IsMinor(_ context.Context, patientID string, at time.Time) (bool, error) {
	p, err := s.get(patientID)
	if err != nil {
		return false, err
	}
	return at.Before(p.MinorUntil), nil
}

// IsRepresentative implements consent.Subjects.
func (s *Subjects) IsRepresentative(_ context.Context, userID, patientID string) (bool, error) {
	p, err := s.get(patientID)
	if err != nil {
		return false, err
	}
	return p.Representatives[userID], nil
}

// Workspace implements consent.Subjects.
func (s *Subjects) Workspace(_ context.Context, patientID string) (string, error) {
	p, err := s.get(patientID)
	if err != nil {
		return "", err
	}
	return p.WorkspaceID, nil
}

// OnCareTeam implements consent.Subjects.
func (s *Subjects) OnCareTeam(_ context.Context, userID, patientID string) (bool, error) {
	p, err := s.get(patientID)
	if err != nil {
		return false, err
	}
	return p.CareTeam[userID], nil
}

var _ consent.Subjects = (*Subjects)(nil)
