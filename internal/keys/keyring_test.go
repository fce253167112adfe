package keys

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

func mustMaster(tb testing.TB) *Master {
	tb.Helper()
	s, err := GenerateMasterString()
	if err != nil {
		tb.Fatal(err)
	}
	m, err := ParseMaster(s)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func keyRowOf(t *testing.T, d *db.DB, kind, owner string) (id string, parent *string, wrappingKey string, wrapped []byte, shreddedAt *int64) {
	t.Helper()
	err := d.Read.QueryRow(`SELECT id, parent_id, wrapping_key, wrapped, shredded_at FROM data_keys WHERE owner_kind = $1 AND owner_id = $2`,
		kind, owner).Scan(&id, &parent, &wrappingKey, &wrapped, &shreddedAt)
	if err != nil {
		t.Fatalf("read %s key row %s: %v", kind, owner, err)
	}
	return
}

func TestKeyringCreatesAndReusesKeys(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		m := mustMaster(t)
		kr := NewKeyring(d, m)
		w1, err := kr.WorkspaceKey(ctx, "ws1")
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := kr.WorkspaceKey(ctx, "ws1"); again != w1 {
			t.Error("second WorkspaceKey call did not hit the cache")
		}
		w2, _ := kr.WorkspaceKey(ctx, "ws2")
		p1, err := kr.PatientKey(ctx, "ws1", "pat1")
		if err != nil {
			t.Fatal(err)
		}
		p2, _ := kr.PatientKey(ctx, "ws1", "pat2")
		b1, _ := kr.BlindKey(ctx, "ws1")
		distinct := []*Key{w1, w2, p1, p2, b1}
		for i := range distinct {
			for j := i + 1; j < len(distinct); j++ {
				if distinct[i].b == distinct[j].b {
					t.Fatalf("keys %d and %d are equal", i, j)
				}
			}
		}

		// A fresh keyring (another server, or after restart) reads the same keys.
		kr2 := NewKeyring(d, m)
		for _, tc := range []struct {
			name string
			get  func() (*Key, error)
			want *Key
		}{
			{"workspace", func() (*Key, error) { return kr2.WorkspaceKey(ctx, "ws1") }, w1},
			{"patient", func() (*Key, error) { return kr2.PatientKey(ctx, "ws1", "pat1") }, p1},
			{"blind", func() (*Key, error) { return kr2.BlindKey(ctx, "ws1") }, b1},
		} {
			got, err := tc.get()
			if err != nil || got.b != tc.want.b {
				t.Errorf("%s key differs after reopening (err %v)", tc.name, err)
			}
		}

		wsID, wsParent, wsWrap, wsWrapped, _ := keyRowOf(t, d, kindWorkspace, "ws1")
		if wsParent != nil || wsWrap != m.ID() {
			t.Errorf("workspace row: parent %v, wrapping_key %q; want no parent and the master ID", wsParent, wsWrap)
		}
		_, pParent, pWrap, pWrapped, _ := keyRowOf(t, d, kindPatient, "pat1")
		if pParent == nil || *pParent != wsID || pWrap != wsID {
			t.Errorf("patient row: parent %v, wrapping_key %q; want the workspace key id %s", pParent, pWrap, wsID)
		}
		if bytes.Contains(wsWrapped, w1.b[:8]) || bytes.Contains(pWrapped, p1.b[:8]) {
			t.Error("wrapped bytes contain raw key bytes")
		}
	})
}

func TestKeyringRotateMasterKeepsDataReadable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		oldM, newM := mustMaster(t), mustMaster(t)
		kr := NewKeyring(d, oldM)
		ad := FieldAD{"patients", "pat1", "name"}
		pk, err := kr.PatientKey(ctx, "ws1", "pat1")
		if err != nil {
			t.Fatal(err)
		}
		ct, _ := SealField(pk, []byte("Ana Ruiz"), ad)
		if _, err := kr.PatientKey(ctx, "ws2", "pat2"); err != nil {
			t.Fatal(err)
		}
		_, _, _, wrappedBefore, _ := keyRowOf(t, d, kindWorkspace, "ws1")

		n, err := kr.RotateMaster(ctx, newM)
		if err != nil || n != 2 {
			t.Fatalf("RotateMaster = %d, %v; want 2 workspace keys rewrapped", n, err)
		}
		_, _, wrapKey, wrappedAfter, _ := keyRowOf(t, d, kindWorkspace, "ws1")
		if wrapKey != newM.ID() || bytes.Equal(wrappedBefore, wrappedAfter) {
			t.Fatal("workspace row not rewrapped under the new master")
		}

		// The rotating keyring and a fresh one with the new master read old data.
		for name, k := range map[string]*Keyring{"rotating keyring": kr, "new keyring": NewKeyring(d, newM)} {
			pk2, err := k.PatientKey(ctx, "ws1", "pat1")
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if pt, err := OpenField(pk2, ct, ad); err != nil || string(pt) != "Ana Ruiz" {
				t.Fatalf("%s: old data does not open after rotation: %v", name, err)
			}
			if err := k.VerifyMaster(ctx); err != nil {
				t.Fatalf("%s: VerifyMaster: %v", name, err)
			}
		}
		// The old master no longer opens anything.
		stale := NewKeyring(d, oldM)
		if _, err := stale.WorkspaceKey(ctx, "ws1"); !errors.Is(err, ErrWrongMaster) {
			t.Fatalf("old master: err = %v, want ErrWrongMaster", err)
		}
		if _, err := unwrap(oldM.key, "x", kindWorkspace, "ws1", wrappedAfter); err == nil {
			t.Fatal("old master unwraps the rewrapped key")
		}
		// New workspaces created after rotation use the new master.
		if _, err := kr.WorkspaceKey(ctx, "ws3"); err != nil {
			t.Fatal(err)
		}
		if _, _, wk, _, _ := keyRowOf(t, d, kindWorkspace, "ws3"); wk != newM.ID() {
			t.Fatal("workspace created after rotation is wrapped by the old master")
		}
		if _, err := kr.RotateMaster(ctx, newM); err == nil {
			t.Fatal("rotating to the current master succeeded")
		}
	})
}

func TestKeyringWrongMaster(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := NewKeyring(d, mustMaster(t)).PatientKey(ctx, "ws1", "pat1"); err != nil {
			t.Fatal(err)
		}
		wrong := NewKeyring(d, mustMaster(t))
		if err := wrong.VerifyMaster(ctx); !errors.Is(err, ErrWrongMaster) {
			t.Errorf("VerifyMaster: err = %v, want ErrWrongMaster", err)
		}
		if _, err := wrong.WorkspaceKey(ctx, "ws1"); !errors.Is(err, ErrWrongMaster) {
			t.Errorf("WorkspaceKey: err = %v, want ErrWrongMaster", err)
		}
		if _, err := wrong.PatientKey(ctx, "ws1", "pat1"); !errors.Is(err, ErrWrongMaster) {
			t.Errorf("PatientKey: err = %v, want ErrWrongMaster", err)
		}
		if _, err := wrong.RotateMaster(ctx, mustMaster(t)); !errors.Is(err, ErrWrongMaster) {
			t.Errorf("RotateMaster: err = %v, want ErrWrongMaster", err)
		}
	})
}

func TestKeyringShredPatient(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		m := mustMaster(t)
		kr := NewKeyring(d, m)
		ad := FieldAD{"patients", "pat1", "name"}
		pk, err := kr.PatientKey(ctx, "ws1", "pat1")
		if err != nil {
			t.Fatal(err)
		}
		ct, _ := SealField(pk, []byte("Ana Ruiz"), ad)
		other, _ := kr.PatientKey(ctx, "ws1", "pat2")
		_, _, _, wrappedBefore, _ := keyRowOf(t, d, kindPatient, "pat1")

		if err := kr.ShredPatient(ctx, "pat1"); err != nil {
			t.Fatal(err)
		}
		_, _, _, wrapped, shreddedAt := keyRowOf(t, d, kindPatient, "pat1")
		if wrapped != nil || shreddedAt == nil {
			t.Fatalf("row after shred: wrapped=%x shredded_at=%v; want NULL and a time", wrapped, shreddedAt)
		}
		var n int
		if err := d.Read.QueryRow(`SELECT COUNT(*) FROM data_keys WHERE wrapped = $1`, wrappedBefore).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the destroyed wrapped key is still stored somewhere in data_keys (%d rows, %v)", n, err)
		}
		for name, k := range map[string]*Keyring{"same keyring": kr, "new keyring": NewKeyring(d, m)} {
			if _, err := k.PatientKey(ctx, "ws1", "pat1"); !errors.Is(err, ErrShredded) {
				t.Fatalf("%s: err = %v, want ErrShredded", name, err)
			}
			if got, err := k.PatientKey(ctx, "ws1", "pat2"); err != nil || got.b != other.b {
				t.Fatalf("%s: shredding one patient affected another: %v", name, err)
			}
		}
		// Nothing left in the database opens the old ciphertext: try every
		// remaining key, wrapped or not.
		ws, _ := kr.WorkspaceKey(ctx, "ws1")
		for _, k := range []*Key{ws, other, m.key} {
			if _, err := OpenField(k, ct, ad); err == nil {
				t.Fatal("old ciphertext opened after shredding")
			}
		}
		if err := kr.ShredPatient(ctx, "pat1"); err != nil {
			t.Fatalf("second shred: %v", err)
		}
		// Shredding a patient who never had a key forbids creating one.
		if err := kr.ShredPatient(ctx, "never-seen"); err != nil {
			t.Fatal(err)
		}
		if _, err := kr.PatientKey(ctx, "ws1", "never-seen"); !errors.Is(err, ErrShredded) {
			t.Fatalf("tombstoned patient: err = %v, want ErrShredded", err)
		}
	})
}

func TestKeyringPatientInAnotherWorkspace(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		kr := NewKeyring(d, mustMaster(t))
		if _, err := kr.PatientKey(ctx, "ws1", "pat1"); err != nil {
			t.Fatal(err)
		}
		if _, err := kr.PatientKey(ctx, "ws2", "pat1"); !errors.Is(err, ErrWrongWorkspace) {
			t.Fatalf("err = %v, want ErrWrongWorkspace", err)
		}
	})
}

func TestKeyringWrappedKeyBoundToOwner(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		m := mustMaster(t)
		kr := NewKeyring(d, m)
		if _, err := kr.PatientKey(ctx, "ws1", "pat1"); err != nil {
			t.Fatal(err)
		}
		if _, err := kr.PatientKey(ctx, "ws1", "pat2"); err != nil {
			t.Fatal(err)
		}
		// Copy pat1's wrapped key into pat2's row.
		_, err := d.Write.Exec(`UPDATE data_keys SET wrapped = (SELECT wrapped FROM data_keys WHERE owner_kind = 'patient' AND owner_id = 'pat1')
			WHERE owner_kind = 'patient' AND owner_id = 'pat2'`)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewKeyring(d, m).PatientKey(ctx, "ws1", "pat2"); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("moved wrapped key: err = %v, want ErrDecrypt", err)
		}
	})
}

func TestKeyringConcurrentPatientKeyAgrees(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		m := mustMaster(t)
		const n = 16
		got := make([]*Key, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Separate keyrings, so no cache hides the race.
				got[i], errs[i] = NewKeyring(d, m).PatientKey(ctx, "ws1", "pat1")
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("goroutine %d: %v", i, errs[i])
			}
			if got[i].b != got[0].b {
				t.Fatalf("goroutine %d got a different key", i)
			}
		}
	})
}

func TestKeyCacheIsBounded(t *testing.T) {
	c := newLRU(2)
	c.put("a", &cached{id: "a"})
	c.put("b", &cached{id: "b"})
	c.get("a")
	c.put("c", &cached{id: "c"})
	if _, ok := c.get("b"); ok {
		t.Error("least recently used entry was not evicted")
	}
	if _, ok := c.get("a"); !ok {
		t.Error("recently used entry was evicted")
	}
	if c.ll.Len() != 2 || len(c.items) != 2 {
		t.Errorf("cache holds %d/%d entries, cap 2", c.ll.Len(), len(c.items))
	}
}

func TestSystemSecretSurvivesMasterRotation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		m1 := mustMaster(t)
		s1, err := NewKeyring(d, m1).SystemSecret(ctx, "totp")
		if err != nil {
			t.Fatal(err)
		}
		other, _ := NewKeyring(d, m1).SystemSecret(ctx, "audit")
		if bytes.Equal(s1, other) {
			t.Fatal("two purposes share a secret")
		}
		m2 := mustMaster(t)
		if _, err := NewKeyring(d, m1).RotateMaster(ctx, m2); err != nil {
			t.Fatal(err)
		}
		s2, err := NewKeyring(d, m2).SystemSecret(ctx, "totp")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s1, s2) {
			t.Fatal("rotation changed the system secret")
		}
		if _, err := NewKeyring(d, m2).SystemSecret(ctx, "bad:purpose"); err == nil {
			t.Fatal("a purpose with a colon was accepted")
		}
	})
}

// readStored reads patient's key row the way a service's own query does.
func readStored(t *testing.T, d *db.DB, kr *Keyring, patient string) *StoredPatientKey {
	t.Helper()
	s := kr.StoredPatientKey()
	q := `SELECT ` + PatientKeyColumns("dk") + ` FROM (SELECT $1 AS pid) x ` + PatientKeyJoin("dk", "x.pid")
	if d.Dialect.Name != "sqlite" {
		q = `SELECT ` + PatientKeyColumns("dk") + ` FROM (SELECT $1::text AS pid) x ` + PatientKeyJoin("dk", "x.pid")
	}
	if err := d.Read.QueryRow(q, patient).Scan(s.Dest()...); err != nil {
		t.Fatalf("read stored key: %v", err)
	}
	return s
}

func TestKeyringPatientKeyFromStoredRow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		m := mustMaster(t)
		want, err := NewKeyring(d, m).PatientKey(ctx, "ws1", "pat1")
		if err != nil {
			t.Fatal(err)
		}
		kr := NewKeyring(d, m) // empty cache: the stored row must be unwrapped
		got, err := kr.PatientKeyFrom(ctx, "ws1", "pat1", readStored(t, d, kr, "pat1"))
		if err != nil || got.b != want.b {
			t.Fatalf("PatientKeyFrom = %v, want the stored key", err)
		}
		if _, err := kr.PatientKeyFrom(ctx, "ws2", "pat1", readStored(t, d, NewKeyring(d, m), "pat1")); !errors.Is(err, ErrWrongWorkspace) {
			t.Errorf("another workspace: %v, want ErrWrongWorkspace", err)
		}
		// A patient with no key row yet gets one, as from PatientKey.
		fresh, err := kr.PatientKeyFrom(ctx, "ws1", "pat2", readStored(t, d, kr, "pat2"))
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := NewKeyring(d, m).PatientKey(ctx, "ws1", "pat2"); again.b != fresh.b {
			t.Error("the key created for a patient without a row was not stored")
		}
		// A row read before a shred must not bring the destroyed key back
		// into the cache, and a shredded row is refused.
		kr2 := NewKeyring(d, m)
		before := readStored(t, d, kr2, "pat1")
		if err := kr2.ShredPatient(ctx, "pat1"); err != nil {
			t.Fatal(err)
		}
		if _, err := kr2.PatientKeyFrom(ctx, "ws1", "pat1", before); err != nil {
			t.Fatalf("row read before the shred: %v", err)
		}
		if _, err := kr2.PatientKey(ctx, "ws1", "pat1"); !errors.Is(err, ErrShredded) {
			t.Errorf("after the shred PatientKey = %v, want ErrShredded (a stale row was cached)", err)
		}
		if _, err := kr2.PatientKeyFrom(ctx, "ws1", "pat1", readStored(t, d, kr2, "pat1")); !errors.Is(err, ErrShredded) {
			t.Errorf("shredded row: %v, want ErrShredded", err)
		}
	})
}
