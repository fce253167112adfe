package keys

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestShredOnOneServerReachesAnotherWithinTheBound: two keyrings share one
// database, as two servers do. A caches a patient key, B shreds it; once
// CheckEvery has passed on A's clock, A refuses the key (and at once after
// an explicit refresh), while its other patients' keys stay cached.
func TestShredOnOneServerReachesAnotherWithinTheBound(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		m := mustMaster(t)
		clock := &testClock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
		a := NewKeyringWith(d, m, Options{Now: clock.Now})
		b := NewKeyring(d, m)
		for _, p := range []string{"pat1", "pat2", "pat3"} {
			if _, err := a.PatientKey(ctx, "ws1", p); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.ShredPatient(ctx, "pat1"); err != nil {
			t.Fatal(err)
		}
		clock.Advance(ShredCheckInterval)
		if _, err := a.PatientKey(ctx, "ws1", "pat1"); !errors.Is(err, ErrShredded) {
			t.Fatalf("after the bound: err = %v, want ErrShredded", err)
		}
		// Without waiting: a refresh reads the new generation and drops the
		// shredded patient's key though its entry is younger than the bound.
		if err := b.ShredPatient(ctx, "pat2"); err != nil {
			t.Fatal(err)
		}
		if err := a.RefreshShreds(ctx); err != nil {
			t.Fatal(err)
		}
		for name, get := range map[string]func() error{
			"PatientKey":     func() error { _, err := a.PatientKey(ctx, "ws1", "pat2"); return err },
			"PatientKeyFrom": func() error { _, err := a.PatientKeyFrom(ctx, "ws1", "pat2", storedRow(t, d, a, "pat2")); return err },
		} {
			if err := get(); !errors.Is(err, ErrShredded) {
				t.Fatalf("%s after a refresh: err = %v, want ErrShredded", name, err)
			}
		}
		if _, err := a.PatientKey(ctx, "ws1", "pat3"); err != nil {
			t.Fatalf("an unshredded patient: %v", err)
		}
	})
}

// storedRow reads the patient's key row as a service's own query would.
func storedRow(t *testing.T, d *db.DB, k *Keyring, patientID string) *StoredPatientKey {
	t.Helper()
	s := k.StoredPatientKey()
	if err := d.Read.QueryRow(`SELECT `+PatientKeyColumns("k")+` FROM (SELECT 1 AS one) x `+PatientKeyJoin("k", "$1"), patientID).Scan(s.Dest()...); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCachedKeyWhoseRowIsGoneIsNotUsedAfterTheBound: a key row that vanishes
// without a shred (deleted by hand, a restore) does not bump the generation,
// so the keyring re-reads a cached key's row once CheckEvery has passed and
// never hands out the old key again.
func TestCachedKeyWhoseRowIsGoneIsNotUsedAfterTheBound(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		m := mustMaster(t)
		clock := &testClock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
		a := NewKeyringWith(d, m, Options{Now: clock.Now, CheckEvery: 50 * time.Millisecond})
		old, err := a.PatientKey(ctx, "ws1", "pat1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Write.Exec(`DELETE FROM data_keys WHERE owner_kind = 'patient' AND owner_id = 'pat1'`); err != nil {
			t.Fatal(err)
		}
		clock.Advance(50 * time.Millisecond)
		got, err := a.PatientKey(ctx, "ws1", "pat1")
		if err != nil {
			t.Fatal(err)
		}
		if got.b == old.b {
			t.Fatal("the cached key of a deleted row was used after the bound")
		}
		// A row shredded by hand (no generation bump) is refused the same way.
		if _, err := d.Write.Exec(`UPDATE data_keys SET wrapped = NULL, shredded_at = 1 WHERE owner_kind = 'patient' AND owner_id = 'pat1'`); err != nil {
			t.Fatal(err)
		}
		clock.Advance(50 * time.Millisecond)
		if _, err := a.PatientKey(ctx, "ws1", "pat1"); !errors.Is(err, ErrShredded) {
			t.Fatalf("row shredded by hand: err = %v, want ErrShredded", err)
		}
	})
}
