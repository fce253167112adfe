// Package rehabtest builds a rehabilitation service on a real database, key
// ring and audit log for tests and benchmarks, with care-team facts held in
// memory until the records domain provides them.
package rehabtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/rehab"
)

// Fixture is a service with everything it stands on.
type Fixture struct {
	DB      *db.DB
	Keys    *keys.Keyring
	Log     *audit.Log
	Facts   *Facts
	Service *rehab.Service
	DataDir string // where the master key lives (the database may be elsewhere)
}

// New builds a fixture on d. Appends go to a real audit log; wrap lets a
// test put something between the service and the log (nil for none).
func New(tb testing.TB, d *db.DB, wrap func(audit.Appender) audit.Appender, opts rehab.Options) *Fixture {
	tb.Helper()
	dir := tb.TempDir()
	if d.Path != "" {
		dir = filepath.Dir(d.Path)
	}
	m, _, err := keys.LoadOrCreateMaster(dir, "")
	if err != nil {
		tb.Fatal(err)
	}
	_, signer, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := audit.Open(context.Background(), d, signer, audit.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	f := &Fixture{DB: d, Keys: keys.NewKeyring(d, m), Log: l, Facts: NewFacts(), DataDir: dir}
	var a audit.Appender = l
	if wrap != nil {
		a = wrap(l)
	}
	f.Service = rehab.NewService(d, f.Keys, a, f.Facts, opts)
	tb.Cleanup(func() { f.Service.Close() })
	return f
}

// Facts is an in-memory rehab.CareTeam.
type Facts struct {
	mu        sync.Mutex
	workspace map[string]string
	team      map[[2]string]bool
}

// NewFacts returns empty facts.
func NewFacts() *Facts {
	return &Facts{workspace: map[string]string{}, team: map[[2]string]bool{}}
}

// AddPatient records a patient of workspace ws with the given care team.
func (f *Facts) AddPatient(patientID, ws string, careTeam ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.workspace[patientID] = ws
	for _, u := range careTeam {
		f.team[[2]string{patientID, u}] = true
	}
}

// OnCareTeam implements rehab.CareTeam.
func (f *Facts) OnCareTeam(_ context.Context, patientID, userID string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.team[[2]string{patientID, userID}], nil
}

// WorkspaceOf implements rehab.CareTeam.
func (f *Facts) WorkspaceOf(_ context.Context, patientID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ws, ok := f.workspace[patientID]
	if !ok {
		return "", rehab.ErrNotFound
	}
	return ws, nil
}

// BatchSpec describes a generated upload.
type BatchSpec struct {
	Prefix    string    // client id prefix; batches with the same prefix and range are retries
	First     int       // index of the first session (client ids are Prefix-<index>)
	Sessions  int       // how many sessions
	Exercises int       // exercises per session
	Start     time.Time // the first session's start; one session a day after it
	Type      string    // exercise type (default "wrist_flexion"); "" alternates two types
	DeviceID  string    // default "device-1"
}

// Batch returns the JSON body of an upload as a device would send it.
func Batch(s BatchSpec) []byte {
	if s.DeviceID == "" {
		s.DeviceID = "device-1"
	}
	sides := []string{"left", "right", "both"}
	var b bytes.Buffer
	b.WriteString(`{"sessions":[`)
	for i := range s.Sessions {
		n := s.First + i
		if i > 0 {
			b.WriteByte(',')
		}
		start := s.Start.AddDate(0, 0, n).UTC()
		fmt.Fprintf(&b, `{"client_id":%q,"device_id":%q,"start":%q,"end":%q,"activity_score":%d,"game_time_seconds":%d,"exercises":[`,
			fmt.Sprintf("%s-%d", s.Prefix, n), s.DeviceID, start.Format(time.RFC3339), start.Add(30*time.Minute).Format(time.RFC3339),
			40+n%60, 600+n%300)
		for j := range s.Exercises {
			if j > 0 {
				b.WriteByte(',')
			}
			typ := s.Type
			if typ == "" {
				typ = []string{"wrist_flexion", "finger_tapping"}[j%2]
			}
			fmt.Fprintf(&b, `{"type":%q,"inventory":"ball","level":%d,"side":%q,"date":%q,"duration_seconds":%d,"performance":%d}`,
				typ, 1+(n/30)%10, sides[j%3], start.Add(time.Duration(j)*time.Minute).Format(time.RFC3339), 60+j, 50+(n+j)%50)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}
