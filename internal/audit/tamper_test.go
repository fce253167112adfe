package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// witnessedLog writes 20 entries 25 minutes apart with a checkpoint due
// every hour, witnessed in a file: checkpoints #1 to #6 at seqs 3, 6, ...,
// 18, carried by the batches, and the final #7 at seq 20 written by Close.
// (The writer's own ticker runs on the same hour, in real time, so it never
// fires during the test.) It returns the key, the witness file and the
// clock, at the time of the last entry.
func witnessedLog(t *testing.T, d *db.DB) (ed25519.PrivateKey, string, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	w := filepath.Join(t.TempDir(), "witness")
	k := newKey(t)
	l := openLog(t, d, k, Options{Now: clock.Now, CheckpointEvery: time.Hour, Witness: []string{w}})
	for i := range 20 {
		clock.advance(25 * time.Minute)
		if _, err := l.Append(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return k, w, clock
}

// resign signs every checkpoint again with forger's key, keeping their own
// chain intact, as someone with another key hierarchy would.
func resign(t *testing.T, d *db.DB, forger ed25519.PrivateKey) {
	t.Helper()
	rows, err := d.Write.Query(`SELECT seq, head_hash, time, number, kind FROM audit_checkpoints ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	type cp struct {
		seq, micros, number, kind int64
		head                      []byte
	}
	var all []cp
	for rows.Next() {
		var c cp
		if err := rows.Scan(&c.seq, &c.head, &c.micros, &c.number, &c.kind); err != nil {
			t.Fatal(err)
		}
		all = append(all, c)
	}
	rows.Close()
	pub := forger.Public().(ed25519.PublicKey)
	var prev [HashSize]byte
	for _, c := range all {
		msg := checkpointMessageV2(c.number, checkpointKind(c.kind), c.seq, c.head, c.micros, prev[:])
		exec(t, d, `UPDATE audit_checkpoints SET key_id = $1, public_key = $2, signature = $3, prev_checkpoint = $4 WHERE seq = $5`,
			KeyID(pub), []byte(pub), ed25519.Sign(forger, msg), prev[:], c.seq)
		prev = sha256.Sum256(msg)
	}
}

// TestVerifyNamesEachKindOfTampering tampers with a witnessed log in each
// way someone who can write the database (but holds no key) might, and
// Verify must find each and say what it is.
func TestVerifyNamesEachKindOfTampering(t *testing.T) {
	type env struct {
		k       ed25519.PrivateKey
		witness string
		opts    *VerifyOptions
	}
	tests := []struct {
		name    string
		tamper  func(t *testing.T, d *db.DB, e env)
		seq     int64
		problem string
	}{
		{"edited entry", func(t *testing.T, d *db.DB, _ env) {
			exec(t, d, `UPDATE audit_entries SET patient_id = 'p-other' WHERE seq = 7`)
		}, 7, "(the entry was changed)"},
		{"deleted entry", func(t *testing.T, d *db.DB, _ env) {
			exec(t, d, `DELETE FROM audit_entries WHERE seq = 9`)
		}, 9, "entry 9 is missing"},
		{"reordered entries", func(t *testing.T, d *db.DB, _ env) {
			exec(t, d, `UPDATE audit_entries SET seq = -1 WHERE seq = 5`)
			exec(t, d, `UPDATE audit_entries SET seq = 5 WHERE seq = 6`)
			exec(t, d, `UPDATE audit_entries SET seq = 6 WHERE seq = -1`)
		}, 5, "prev_hash"},
		{"truncated tail without its checkpoints", func(t *testing.T, d *db.DB, _ env) {
			exec(t, d, `DELETE FROM audit_entries WHERE seq > 16`)
		}, 17, "entries after seq 16 are missing: a checkpoint covers seq 20"},
		{"truncated tail with its checkpoints", func(t *testing.T, d *db.DB, _ env) {
			exec(t, d, `DELETE FROM audit_entries WHERE seq > 12`)
			exec(t, d, `DELETE FROM audit_checkpoints WHERE seq > 12`)
		}, 13, "records checkpoint #5 at seq 15, which the database does not have"},
		{"truncated tail with its checkpoints, between two checkpoints", func(t *testing.T, d *db.DB, _ env) {
			exec(t, d, `DELETE FROM audit_entries WHERE seq > 14`)
			exec(t, d, `DELETE FROM audit_checkpoints WHERE seq > 12`)
		}, 13, "cut off together with its checkpoints"},
		{"re-hashed without the key", func(t *testing.T, d *db.DB, _ env) {
			exec(t, d, `UPDATE audit_entries SET actor_user_id = 'u-innocent' WHERE seq = 4`)
			rechain(t, d, encodingVersion, nil)
		}, 1, "plain SHA-256, not keyed"},
		{"re-hashed as unkeyed entries", func(t *testing.T, d *db.DB, _ env) {
			exec(t, d, `UPDATE audit_entries SET actor_user_id = 'u-innocent' WHERE seq = 4`)
			rechain(t, d, unkeyedVersion, nil)
		}, 3, "different chain head"},
		{"re-hashed as unkeyed entries, checkpoints deleted", func(t *testing.T, d *db.DB, e env) {
			rechain(t, d, unkeyedVersion, nil)
			exec(t, d, `DELETE FROM audit_checkpoints`)
			e.opts.Witness = nil
		}, 1, "no signed checkpoint covers them"},
		{"re-signed with another key", func(t *testing.T, d *db.DB, _ env) {
			forger := newKey(t)
			exec(t, d, `UPDATE audit_entries SET actor_user_id = 'u-innocent' WHERE seq = 4`)
			rechain(t, d, encodingVersion, forger)
			resign(t, d, forger)
		}, 1, "recomputed with another key"},
		{"checkpoints re-signed with another key", func(t *testing.T, d *db.DB, _ env) {
			resign(t, d, newKey(t))
		}, 3, "signed by an unknown key"},
		{"deleted one checkpoint", func(t *testing.T, d *db.DB, _ env) {
			exec(t, d, `DELETE FROM audit_checkpoints WHERE seq = 9`)
		}, 12, "checkpoint #3 is missing"},
		{"deleted the last checkpoint", func(t *testing.T, d *db.DB, _ env) {
			exec(t, d, `DELETE FROM audit_checkpoints WHERE seq = 20`)
		}, 19, "records checkpoint #7 at seq 20"},
		{"deleted the last checkpoint, no witness", func(t *testing.T, d *db.DB, e env) {
			exec(t, d, `DELETE FROM audit_checkpoints WHERE seq = 20`)
			e.opts.Witness = nil
			now := e.opts.Now().Add(3 * time.Hour)
			e.opts.Now = func() time.Time { return now }
		}, 19, "entries 19 to 20 are covered by no checkpoint"},
		{"reordered checkpoints", func(t *testing.T, d *db.DB, _ env) {
			exec(t, d, `UPDATE audit_checkpoints SET number = 100 WHERE number = 2`)
			exec(t, d, `UPDATE audit_checkpoints SET number = 2 WHERE number = 3`)
			exec(t, d, `UPDATE audit_checkpoints SET number = 3 WHERE number = 100`)
		}, 6, "checkpoint #2 is missing or out of order"},
		{"checkpoint stripped of its number", func(t *testing.T, d *db.DB, _ env) {
			exec(t, d, `UPDATE audit_checkpoints SET number = NULL, prev_checkpoint = NULL, kind = NULL WHERE seq = 9`)
		}, 9, "has no number"},
		{"edited checkpoint", func(t *testing.T, d *db.DB, _ env) {
			exec(t, d, `UPDATE audit_checkpoints SET time = time + 1 WHERE seq = 9`)
		}, 9, "invalid signature"},
		{"witness removed", func(t *testing.T, _ *db.DB, e env) {
			if err := os.Remove(e.witness); err != nil {
				t.Fatal(err)
			}
		}, 0, "the witness file " + "WITNESS does not exist, but the database has 7 checkpoints"},
		{"witness line garbled", func(t *testing.T, _ *db.DB, e env) {
			b, err := os.ReadFile(e.witness)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(e.witness, append([]byte("garbage\n"), b...), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 0, "line 1 of the witness WITNESS is not a checkpoint record"},
		{"witness record of another log", func(t *testing.T, _ *db.DB, e env) {
			b, err := os.ReadFile(e.witness)
			if err != nil {
				t.Fatal(err)
			}
			// The first record's seq (3) changed, as if the witness and
			// the database came from different logs.
			b = []byte(strings.Replace(string(b), `"seq":3,`, `"seq":4,`, 1))
			if err := os.WriteFile(e.witness, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, 3, "checkpoint #1 differs from the witness"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				k, w, clock := witnessedLog(t, d)
				opts := VerifyOptions{Witness: []string{w}, MaxGap: 2 * time.Hour, Now: clock.Now}
				if rep := mustVerifyWith(t, d, k, opts); !rep.OK() || rep.Entries != 20 || rep.Checkpoints != 7 || rep.Witnessed != 7 {
					t.Fatalf("intact log: %+v", rep)
				}
				dropGuards(t, d)
				tt.tamper(t, d, env{k: k, witness: w, opts: &opts})
				rep := mustVerifyWith(t, d, k, opts)
				want := strings.ReplaceAll(tt.problem, "WITNESS", w)
				if rep.OK() || rep.BrokenSeq != tt.seq || !strings.Contains(rep.Problem, want) {
					t.Fatalf("got break at %d (%q), want %d (%q)", rep.BrokenSeq, rep.Problem, tt.seq, want)
				}
			})
		})
	}
}

// TestVerifyReportsAGapBetweenCheckpoints checks the witnessed log, whose
// checkpoints come up to 50 minutes after the first entry they cover,
// against a 30-minute limit.
func TestVerifyReportsAGapBetweenCheckpoints(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		k, w, clock := witnessedLog(t, d)
		rep := mustVerifyWith(t, d, k, VerifyOptions{Witness: []string{w}, MaxGap: 30 * time.Minute, Now: clock.Now})
		if rep.BrokenSeq != 1 || !strings.Contains(rep.Problem, "checkpoint #1 (seq 3) was signed 50m0s after entry 1") {
			t.Fatalf("got break at %d (%q), want the gap before checkpoint #1", rep.BrokenSeq, rep.Problem)
		}
	})
}

// TestOpenCheckpointsEntriesAnUncleanStopLeftUncovered writes three keyed
// entries as a writer that stopped before its checkpoint would have: Verify
// reports them once they are older than the gap allowed, and the next Open
// signs them, a checkpoint whose late arrival is explained by its kind.
func TestOpenCheckpointsEntriesAnUncleanStopLeftUncovered(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		k := newKey(t)
		crashed := &Log{d: d, signer: k, keyID: KeyID(k.Public().(ed25519.PublicKey)), mac: newLinkMAC(k),
			insertSQL: map[int]*sql.Stmt{}, opts: Options{Now: clock.Now, CheckpointEvery: time.Hour}, lastCPTime: clock.Now()}
		if err := crashed.loadHead(context.Background()); err != nil {
			t.Fatal(err)
		}
		var batch []*pending
		for i := range 3 {
			e := event(i)
			batch = append(batch, &pending{ev: e, micros: microsOf(clock.Now())})
		}
		if _, cp, err := crashed.writeBatch(batch); err != nil || cp {
			t.Fatalf("write the entries: checkpoint %v, %v", cp, err)
		}
		for _, st := range crashed.insertSQL {
			st.Close()
		}

		clock.advance(5 * time.Hour)
		opts := VerifyOptions{MaxGap: 2 * time.Hour, Now: clock.Now}
		if rep := mustVerifyWith(t, d, k, opts); rep.BrokenSeq != 1 || !strings.Contains(rep.Problem, "covered by no checkpoint") {
			t.Fatalf("after the stop: break at %d (%q), want the uncovered entries", rep.BrokenSeq, rep.Problem)
		}
		l := openLog(t, d, k, Options{Now: clock.Now})
		var kind int64
		if err := d.Read.QueryRow(`SELECT kind FROM audit_checkpoints WHERE seq = 3`).Scan(&kind); err != nil || checkpointKind(kind) != kindOpen {
			t.Fatalf("checkpoint at open: kind %d, %v", kind, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if rep := mustVerifyWith(t, d, k, opts); !rep.OK() || rep.Checkpoints != 1 {
			t.Fatalf("after the next open: %+v", rep)
		}
	})
}

// TestCloseWritesAFinalCheckpointToTheWitness: a clean stop signs the last
// entries and appends that checkpoint to every witness.
func TestCloseWritesAFinalCheckpointToTheWitness(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		dir := t.TempDir()
		ws := []string{filepath.Join(dir, "a"), filepath.Join(dir, "sub", "b")}
		k := newKey(t)
		l := openLog(t, d, k, Options{Witness: ws})
		for i := range 4 {
			if _, err := l.Append(context.Background(), event(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		var seq, kind int64
		if err := d.Read.QueryRow(`SELECT seq, kind FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`).Scan(&seq, &kind); err != nil ||
			seq != 4 || checkpointKind(kind) != kindFinal {
			t.Fatalf("last checkpoint at %d, kind %d, %v: want the final one at 4", seq, kind, err)
		}
		for _, w := range ws {
			b, err := os.ReadFile(w)
			if err != nil || !strings.Contains(string(b), `"seq":4,`) || !strings.Contains(string(b), `"kind":1,`) {
				t.Fatalf("witness %s: %q, %v", w, b, err)
			}
		}
		if rep := mustVerifyWith(t, d, k, VerifyOptions{Witness: ws}); !rep.OK() || rep.Witnessed != 2*rep.Checkpoints {
			t.Fatalf("report %+v", rep)
		}
	})
}

// TestVerifyReadsAWitnessOnlyAsFarAsWholeRecords: a last line without its
// newline is a record being written (or torn by a crash before its sync);
// the database committed that checkpoint first, so it is not a problem.
func TestVerifyReadsAWitnessOnlyAsFarAsWholeRecords(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		k, w, clock := witnessedLog(t, d)
		f, err := os.OpenFile(w, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(`{"number":8,"kind":0,"se`); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if rep := mustVerifyWith(t, d, k, VerifyOptions{Witness: []string{w}, MaxGap: 2 * time.Hour, Now: clock.Now}); !rep.OK() || rep.Witnessed != 7 {
			t.Fatalf("report %+v", rep)
		}
	})
}

// TestOpenAnchorsAnEmptyWitness: a witness configured on a log that
// already has checkpoints gets the newest one at once, so cutting the log
// back past it is found before any new checkpoint is written.
func TestOpenAnchorsAnEmptyWitness(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		k := newKey(t)
		l := openLog(t, d, k, Options{Now: clock.Now, CheckpointEvery: time.Hour})
		for i := range 20 {
			if _, err := l.Append(context.Background(), event(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		w := filepath.Join(t.TempDir(), "witness")
		if err := openLog(t, d, k, Options{Now: clock.Now, CheckpointEvery: time.Hour, Witness: []string{w}}).Close(); err != nil {
			t.Fatal(err)
		}
		if rep := mustVerifyWith(t, d, k, VerifyOptions{Witness: []string{w}}); !rep.OK() || rep.Witnessed != 1 {
			t.Fatalf("anchored witness: %+v", rep)
		}
		dropGuards(t, d)
		exec(t, d, `DELETE FROM audit_entries WHERE seq > 10`)
		exec(t, d, `DELETE FROM audit_checkpoints`)
		rep := mustVerifyWith(t, d, k, VerifyOptions{Witness: []string{w}})
		if rep.BrokenSeq != 1 || !strings.Contains(rep.Problem, "records checkpoint #1 at seq 20") {
			t.Fatalf("got break at %d (%q), want the witness's checkpoint #1 at seq 20", rep.BrokenSeq, rep.Problem)
		}
	})
}
