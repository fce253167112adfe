package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

// dropGuards removes the append-only triggers, as someone with direct
// database access could, so the tests can prove Verify catches what the
// triggers would have refused.
func dropGuards(t *testing.T, d *db.DB) {
	t.Helper()
	stmts := map[string][]string{
		"sqlite": {
			`DROP TRIGGER audit_entries_no_update`, `DROP TRIGGER audit_entries_no_delete`,
			`DROP TRIGGER audit_entries_append_only`, `DROP TRIGGER audit_checkpoints_no_update`,
			`DROP TRIGGER audit_checkpoints_no_delete`, `DROP TRIGGER audit_checkpoints_no_replace`,
		},
		"postgres": {
			`ALTER TABLE audit_entries DISABLE TRIGGER USER`, `ALTER TABLE audit_checkpoints DISABLE TRIGGER USER`,
		},
	}[d.Dialect.Name]
	for _, s := range stmts {
		if _, err := d.Write.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// filledLog appends n entries, closes the log (writing a final checkpoint)
// and returns the checkpoint key.
func filledLog(t *testing.T, d *db.DB, n int) ed25519.PrivateKey {
	t.Helper()
	l := openLog(t, d, newKey(t), Options{})
	for i := range n {
		if _, err := l.Append(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return l.signer
}

func exec(t *testing.T, d *db.DB, q string, args ...any) {
	t.Helper()
	if _, err := d.Write.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestVerifyPassesAnIntactLog(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		if rep := mustVerify(t, d, ed25519.NewKeyFromSeed(make([]byte, 32))); !rep.OK() || rep.Entries != 0 {
			t.Fatalf("empty log: %+v", rep)
		}
		k := filledLog(t, d, 20)
		rep := mustVerify(t, d, k)
		if !rep.OK() || rep.Entries != 20 || rep.Head != 20 || rep.Checkpoints != 1 {
			t.Fatalf("report %+v", rep)
		}
	})
}

func TestVerifyNamesTheFirstTamperedEntry(t *testing.T) {
	testVerifyNamesTheFirstTamperedEntry(t)
}

// TestVerifyInSegmentsNamesTheSameBreaks cuts the 20-entry log into four
// ranges checked at once (seqs 1-5, 6-10, 11-15, 16-20), so tampering
// inside a range, at a boundary and across one must still be named exactly
// as a single pass names it.
func TestVerifyInSegmentsNamesTheSameBreaks(t *testing.T) {
	defer func(m, n int64) { minSegment, maxSegments = m, n }(minSegment, maxSegments)
	minSegment, maxSegments = 3, 4
	t.Run("intact", TestVerifyPassesAnIntactLog)
	testVerifyNamesTheFirstTamperedEntry(t)
}

func testVerifyNamesTheFirstTamperedEntry(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, d *db.DB, k ed25519.PrivateKey)
		seq     int64
		problem string
	}{
		{"edited field", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `UPDATE audit_entries SET patient_id = 'p-other' WHERE seq = 7`)
		}, 7, "contents"},
		{"edited time", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `UPDATE audit_entries SET time = time + 1 WHERE seq = 3`)
		}, 3, "contents"},
		{"break-glass flag cleared", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			editEncoding(t, d, 14, func(e *Event) { e.BreakGlass = false }) // event(13) is break-glass
		}, 14, "contents"},
		{"deleted entry", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `DELETE FROM audit_entries WHERE seq = 9`)
		}, 9, "missing"},
		{"deleted first entry of a range", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `DELETE FROM audit_entries WHERE seq = 11`)
		}, 11, "missing"},
		{"deleted last entry of a range", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `DELETE FROM audit_entries WHERE seq = 15`)
		}, 15, "missing"},
		{"edited in two places", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `UPDATE audit_entries SET outcome = 'x' WHERE seq = 17`)
			exec(t, d, `UPDATE audit_entries SET outcome = 'x' WHERE seq = 12`)
		}, 12, "contents"},
		{"prev_hash of a range's first entry", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `UPDATE audit_entries SET prev_hash = hash WHERE seq = 6`)
		}, 6, "prev_hash"},
		{"deleted tail", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `DELETE FROM audit_entries WHERE seq > 17`)
		}, 18, "missing"},
		{"reordered entries", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `UPDATE audit_entries SET seq = -1 WHERE seq = 5`)
			exec(t, d, `UPDATE audit_entries SET seq = 5 WHERE seq = 6`)
			exec(t, d, `UPDATE audit_entries SET seq = 6 WHERE seq = -1`)
		}, 5, "prev_hash"},
		{"reordered inside a range", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `UPDATE audit_entries SET seq = -1 WHERE seq = 12`)
			exec(t, d, `UPDATE audit_entries SET seq = 12 WHERE seq = 13`)
			exec(t, d, `UPDATE audit_entries SET seq = 13 WHERE seq = -1`)
		}, 12, "prev_hash"},
		{"rewritten chain", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			// An attacker without the key hierarchy edits entry 4 and
			// recomputes every hash after it, as unkeyed links: only
			// the checkpoint knows.
			exec(t, d, `UPDATE audit_entries SET actor_user_id = 'u-innocent' WHERE seq = 4`)
			rechain(t, d, unkeyedVersion, nil)
		}, 20, "different chain head"},
		{"rewritten chain, keyed entries re-hashed without the key", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `UPDATE audit_entries SET actor_user_id = 'u-innocent' WHERE seq = 4`)
			rechain(t, d, encodingVersion, nil)
		}, 1, "plain SHA-256"},
		{"forged checkpoint signature", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `UPDATE audit_checkpoints SET signature = $1`, make([]byte, 64))
		}, 20, "invalid signature"},
		// Entries store their canonical encoding beside the columns
		// (migration 0210); Verify hashes the encoding and checks that
		// every column agrees with it.
		{"edited encoding", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			e := event(7)
			e.Outcome = "x"
			exec(t, d, `UPDATE audit_entries SET entry = $1 WHERE seq = 8`, encode(nil, 8, 1, &e))
		}, 8, "contents do not match its hash"},
		{"edited filter column beside its encoding", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `UPDATE audit_entries SET workspace_id = 'ws-other' WHERE seq = 9`)
		}, 9, "columns do not match"},
		{"edited other column beside its encoding", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			exec(t, d, `UPDATE audit_entries SET reason = 'fine' WHERE seq = 10`)
		}, 10, "columns do not match"},
		{"encoding removed", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			// Without an encoding an entry is checked column by column
			// as an unkeyed one, which may not follow a keyed one.
			exec(t, d, `UPDATE audit_entries SET entry = NULL WHERE seq = 13`)
		}, 13, "linked without the chain key"},
		{"encoding removed at a range's first entry", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			// With four ranges the keyed entry before it is in another.
			asWrittenBefore0210(t, d, `seq = 11`)
		}, 11, "linked without the chain key"},
		{"encoding removed, columns filled in and edited", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			asWrittenBefore0210(t, d, `seq = 13`)
			exec(t, d, `UPDATE audit_entries SET outcome = 'x' WHERE seq = 13`)
		}, 13, "linked without the chain key"},
		{"checkpoint by another key", func(t *testing.T, d *db.DB, _ ed25519.PrivateKey) {
			other := newKey(t)
			var head []byte
			var micros int64
			if err := d.Write.QueryRow(`SELECT head_hash, time FROM audit_checkpoints WHERE seq = 20`).Scan(&head, &micros); err != nil {
				t.Fatal(err)
			}
			pub := other.Public().(ed25519.PublicKey)
			exec(t, d, `UPDATE audit_checkpoints SET public_key = $1, key_id = $2, signature = $3`,
				[]byte(pub), KeyID(pub), ed25519.Sign(other, checkpointMessage(20, head, micros)))
		}, 20, "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				k := filledLog(t, d, 20)
				dropGuards(t, d)
				tt.tamper(t, d, k)
				rep := mustVerify(t, d, k)
				if rep.OK() || rep.BrokenSeq != tt.seq || !strings.Contains(rep.Problem, tt.problem) {
					t.Fatalf("got break at %d (%q), want %d (%q)", rep.BrokenSeq, rep.Problem, tt.seq, tt.problem)
				}
			})
		})
	}
}

// rechain recomputes every entry's prev_hash and hash from its stored
// contents, as a forger would: stored as encoding version, linked with
// plain SHA-256, or keyed with the chain key of forger when it is set.
func rechain(t *testing.T, d *db.DB, version byte, forger ed25519.PrivateKey) {
	t.Helper()
	rows, err := d.Write.Query(`SELECT ` + eventColumnList + `, entry FROM audit_entries ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		seq, micros int64
		e           Event
	}
	var all []row
	for rows.Next() {
		var r row
		var bg int64
		var enc []byte
		e := &r.e
		if err := rows.Scan(&r.seq, &r.micros, &e.ActorUserID, &e.ActorTokenID, &e.ActorRole, &e.WorkspaceID, &e.OnBehalfOf,
			&e.Action, &e.ResourceType, &e.ResourceID, &e.PatientID, &e.Purpose, &e.Decision, &e.Reason,
			&bg, &e.ClientAddr, &e.RequestID, &e.Outcome, &enc); err != nil {
			t.Fatal(err)
		}
		e.BreakGlass = bg != 0
		if enc != nil {
			// The filter columns are the forger's edits; the rest is
			// only in the encoding.
			de, ok := entryFromEncoding(enc)
			if !ok {
				t.Fatalf("entry %d: malformed encoding", r.seq)
			}
			de.ActorUserID, de.WorkspaceID, de.Action, de.PatientID = e.ActorUserID, e.WorkspaceID, e.Action, e.PatientID
			r.e = de.Event
		}
		all = append(all, r)
	}
	rows.Close()
	prev := genesis
	h := sha256.New()
	if forger != nil {
		h = newLinkMAC(forger)
	}
	for _, r := range all {
		var sum [HashSize]byte
		enc := encodeVersion(nil, version, r.seq, r.micros, &r.e)
		chainHash(h, prev[:], enc, sum[:0])
		exec(t, d, `UPDATE audit_entries SET prev_hash = $1, hash = $2, entry = $3 WHERE seq = $4`, prev[:], sum[:], enc, r.seq)
		prev = sum
	}
}

func TestDatabaseRefusesToChangeAuditRows(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		filledLog(t, d, 3)
		for _, q := range []string{
			`UPDATE audit_entries SET patient_id = 'x' WHERE seq = 1`,
			`DELETE FROM audit_entries WHERE seq = 3`,
			`DELETE FROM audit_entries`,
			`UPDATE audit_checkpoints SET seq = 1`,
			`DELETE FROM audit_checkpoints`,
			// Skipping a seq or breaking the link is refused at insert time.
			`INSERT INTO audit_entries (seq, time, action, prev_hash, hash) SELECT 5, 0, 'x', hash, hash FROM audit_entries WHERE seq = 3`,
			`INSERT INTO audit_entries (seq, time, action, prev_hash, hash) SELECT 4, 0, 'x', hash, hash FROM audit_entries WHERE seq = 2`,
		} {
			if _, err := d.Write.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: got %v, want an append-only refusal", q, err)
			}
		}
		if d.Dialect.Name == "sqlite" {
			if _, err := d.Write.Exec(`INSERT OR REPLACE INTO audit_entries (seq, time, action, prev_hash, hash)
				SELECT 2, 0, 'x', prev_hash, hash FROM audit_entries WHERE seq = 2`); err == nil {
				t.Error("INSERT OR REPLACE over an entry was accepted")
			}
		} else {
			for _, q := range []string{`TRUNCATE audit_entries`, `TRUNCATE audit_checkpoints`} {
				if _, err := d.Write.Exec(q); err == nil {
					t.Errorf("%s was accepted", q)
				}
			}
		}
		var n int
		if err := d.Write.QueryRow(`SELECT COUNT(*) FROM audit_entries`).Scan(&n); err != nil || n != 3 {
			t.Fatalf("entries after refused changes: %d %v", n, err)
		}
	})
}

// breakInserts makes the audit table refuse every insert, standing in for a
// full disk or a lost database.
func breakInserts(t *testing.T, d *db.DB) (restore func()) {
	t.Helper()
	switch d.Dialect.Name {
	case "sqlite":
		exec(t, d, `CREATE TRIGGER audit_test_broken BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'disk full'); END`)
		return func() { exec(t, d, `DROP TRIGGER audit_test_broken`) }
	default:
		exec(t, d, `CREATE FUNCTION audit_test_broken() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$`)
		exec(t, d, `CREATE TRIGGER audit_test_broken BEFORE INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION audit_test_broken()`)
		return func() { exec(t, d, `DROP TRIGGER audit_test_broken ON audit_entries`) }
	}
}

func TestAppendFailsWhenTheStoreCannotBeWrittenAndRecovers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		l := openLog(t, d, newKey(t), Options{})
		ctx := context.Background()
		if _, err := l.Append(ctx, event(1)); err != nil {
			t.Fatal(err)
		}
		restore := breakInserts(t, d)
		r, err := l.Append(ctx, event(2))
		if !errors.Is(err, ErrUnavailable) || r.Valid() {
			t.Fatalf("append to a broken store: %v %v, want ErrUnavailable and no receipt", r, err)
		}
		restore()
		r, err = l.Append(ctx, event(3))
		if err != nil || r.Seq() != 2 {
			t.Fatalf("after recovery: %+v %v, want seq 2", r, err)
		}
		l.Close()
		if rep := mustVerify(t, d, l.signer); !rep.OK() || rep.Entries != 2 {
			t.Fatalf("report %+v", rep)
		}
	})
}

func TestCheckpointsAreWrittenWhileEntriesFlow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		now := time.Unix(1_700_000_000, 0)
		clock := make(chan time.Time, 1)
		clock <- now
		tick := func() time.Time { t := <-clock; clock <- t; return t }
		advance := func(by time.Duration) { t := <-clock; clock <- t.Add(by) }
		l := openLog(t, d, newKey(t), Options{Now: tick})
		for i := range 5 {
			advance(600 * time.Millisecond)
			if _, err := l.Append(context.Background(), event(i)); err != nil {
				t.Fatal(err)
			}
		}
		// 3 s of appends: a checkpoint at least every second, none at the
		// first entries.
		var n int
		if err := d.Read.QueryRow(`SELECT COUNT(*) FROM audit_checkpoints`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n < 2 {
			t.Fatalf("%d checkpoints in 3 s of appends, want at least 2", n)
		}
		l.Close()
		rep := mustVerify(t, d, l.signer)
		if !rep.OK() || rep.Checkpoints != int64(n)+1 {
			t.Fatalf("report %+v, want %d checkpoints", rep, n+1)
		}
	})
}

// TestVerifyReadsEntriesWithAndWithoutEncoding covers a log written partly
// before migration 0210 (no stored encoding) and partly after, by a server
// that did not key its links yet, then continued by this one: every kind
// verifies, the unkeyed kinds in any order before the keyed ones, and a
// change in any is found.
func TestVerifyReadsEntriesWithAndWithoutEncoding(t *testing.T) {
	for _, segs := range []int64{1, 4} {
		t.Run(fmt.Sprintf("segments=%d", segs), func(t *testing.T) {
			defer func(m, n int64) { minSegment, maxSegments = m, n }(minSegment, maxSegments)
			minSegment, maxSegments = 3, segs
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				k := newKey(t)
				unkeyedLog(t, d, k, 20, func(seq int64) bool { return seq <= 8 || seq == 12 || seq == 13 || seq == 20 })
				if rep := mustVerify(t, d, k); !rep.OK() || rep.Entries != 20 || rep.Checkpoints != 1 {
					t.Fatalf("mixed log: %+v", rep)
				}
				// Query shows both kinds the same.
				page, err := (&Log{d: d}).Query(context.Background(), Filter{Limit: 20})
				if err != nil || len(page.Entries) != 20 {
					t.Fatalf("query: %d entries, %v", len(page.Entries), err)
				}
				for _, en := range page.Entries {
					want := event(int(en.Seq - 1))
					want.Time = en.Time
					if en.Event != want {
						t.Fatalf("entry %d: got %+v, want %+v", en.Seq, en.Event, want)
					}
				}
				// This server continues the log with keyed entries.
				l := openLog(t, d, k, Options{})
				for i := range 5 {
					if _, err := l.Append(context.Background(), event(20+i)); err != nil {
						t.Fatal(err)
					}
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if rep := mustVerify(t, d, k); !rep.OK() || rep.Entries != 25 || rep.Checkpoints != 2 {
					t.Fatalf("continued log: %+v", rep)
				}
				dropGuards(t, d)
				exec(t, d, `UPDATE audit_entries SET action = 'x' WHERE seq = 12`)
				exec(t, d, `UPDATE audit_entries SET action = 'x' WHERE seq = 15`)
				if rep := mustVerify(t, d, k); rep.BrokenSeq != 12 || !strings.Contains(rep.Problem, "contents") {
					t.Fatalf("got break at %d (%q), want 12", rep.BrokenSeq, rep.Problem)
				}
			})
		})
	}
}

func TestEncodingRoundTrips(t *testing.T) {
	for i := range 20 {
		e := event(i)
		e.Time = time.UnixMicro(1_700_000_000_123_456 + int64(i)).UTC()
		got, ok := entryFromEncoding(encode(nil, int64(i+1), microsOf(e.Time), &e))
		if !ok || got.Seq != int64(i+1) || got.Event != e {
			t.Fatalf("event %d: got %+v (%v), want %+v", i, got, ok, e)
		}
	}
	for _, bad := range [][]byte{nil, {2}, append(appendHeader(nil, 3, 1, 1, false), make([]byte, 60)...), append(appendHeader(nil, encodingVersion, 1, 1, false), 0, 0, 0, 9)} {
		if _, ok := entryFromEncoding(bad); ok {
			t.Fatalf("decoded malformed %x", bad)
		}
	}
}

// unkeyedLog writes n entries and a checkpoint of their head as a server
// did before migration 0230: links hashed with plain SHA-256, encodings of
// version 1 (or, where columnsOnly says, every column and no encoding, as
// before migration 0210) and a version 1 checkpoint without a number.
func unkeyedLog(t *testing.T, d *db.DB, k ed25519.PrivateKey, n int, columnsOnly func(seq int64) bool) {
	t.Helper()
	prev := genesis
	h := sha256.New()
	base := time.Now().Add(-time.Hour).UnixMicro()
	for i := range n {
		seq, e := int64(i+1), event(i)
		micros := base + seq
		enc := encodeVersion(nil, unkeyedVersion, seq, micros, &e)
		var sum [HashSize]byte
		chainHash(h, prev[:], enc, sum[:0])
		if columnsOnly(seq) {
			exec(t, d, insertSQL(d.Dialect, entryColumnList, 20, 1), seq, micros, e.ActorUserID, e.ActorTokenID, e.ActorRole,
				e.WorkspaceID, e.OnBehalfOf, e.Action, e.ResourceType, e.ResourceID, e.PatientID, e.Purpose, e.Decision,
				e.Reason, boolInt(e.BreakGlass), e.ClientAddr, e.RequestID, e.Outcome, prev[:], sum[:])
		} else {
			exec(t, d, insertSQL(d.Dialect, insertColumnList, entryColumns, 1), seq, micros, e.ActorUserID, e.WorkspaceID,
				e.Action, e.PatientID, prev[:], sum[:], enc)
		}
		prev = sum
	}
	pub := k.Public().(ed25519.PublicKey)
	micros := time.Now().UnixMicro()
	exec(t, d, `INSERT INTO audit_checkpoints (seq, head_hash, time, key_id, public_key, signature) VALUES ($1, $2, $3, $4, $5, $6)`,
		int64(n), prev[:], micros, KeyID(pub), []byte(pub), ed25519.Sign(k, checkpointMessage(int64(n), prev[:], micros)))
}

// asWrittenBefore0210 rewrites the entries matching cond as the writer
// stored them before migration 0210: every column, no encoding.
func asWrittenBefore0210(t *testing.T, d *db.DB, cond string) {
	t.Helper()
	for _, en := range encodedEntries(t, d, cond) {
		e := &en.Event
		exec(t, d, `UPDATE audit_entries SET actor_token_id = $1, actor_role = $2, on_behalf_of = $3, resource_type = $4,
			resource_id = $5, purpose = $6, decision = $7, reason = $8, break_glass = $9, client_addr = $10,
			request_id = $11, outcome = $12, entry = NULL WHERE seq = $13`,
			e.ActorTokenID, e.ActorRole, e.OnBehalfOf, e.ResourceType, e.ResourceID, e.Purpose, e.Decision, e.Reason,
			boolInt(e.BreakGlass), e.ClientAddr, e.RequestID, e.Outcome, en.Seq)
	}
}

// editEncoding changes entry seq's stored encoding, as a forger would.
func editEncoding(t *testing.T, d *db.DB, seq int64, edit func(*Event)) {
	t.Helper()
	for _, en := range encodedEntries(t, d, fmt.Sprintf("seq = %d", seq)) {
		edit(&en.Event)
		exec(t, d, `UPDATE audit_entries SET entry = $1 WHERE seq = $2`, encode(nil, en.Seq, microsOf(en.Time), &en.Event), en.Seq)
	}
}

func encodedEntries(t *testing.T, d *db.DB, cond string) []Entry {
	t.Helper()
	rows, err := d.Write.Query(`SELECT entry FROM audit_entries WHERE ` + cond + ` ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var out []Entry
	for rows.Next() {
		var enc []byte
		if err := rows.Scan(&enc); err != nil {
			t.Fatal(err)
		}
		en, ok := entryFromEncoding(enc)
		if !ok {
			t.Fatalf("malformed encoding %x", enc)
		}
		out = append(out, en)
	}
	rows.Close()
	return out
}

// TestVerifyFindsAnEditInEveryColumn changes one column of entry 7 at a
// time, in an entry that stores its encoding and in one written before
// migration 0210, and on SQLite also the type of a value with the same
// bytes: each change is a break at entry 7. Each change is undone before
// the next.
func TestVerifyFindsAnEditInEveryColumn(t *testing.T) {
	cols := strings.Split(strings.Join(strings.Fields(entryColumnList+", entry"), ""), ",")
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				k := newKey(t)
				// A legacy log: every column, no encoding, unkeyed links.
				bulkLoadAs(t, d, k, 20, 10, legacy)
				dropGuards(t, d)
				exec(t, d, `CREATE TABLE audit_saved AS SELECT * FROM audit_entries WHERE seq = 7`)
				for _, col := range cols {
					if col == "seq" || legacy && col == "entry" {
						continue // moving entries and removing encodings are covered above
					}
					edits := []string{map[string]string{
						"time": "time + 1", "break_glass": "1 - break_glass", "prev_hash": "hash", "hash": "prev_hash",
						"entry": "(SELECT entry FROM audit_entries WHERE seq = 8)",
					}[col]}
					if edits[0] == "" {
						edits[0] = col + " || 'x'"
					}
					// The same bytes as another type, which SQLite lets a
					// column hold unless a CHECK constraint refuses it.
					if d.Dialect.Name == "sqlite" {
						switch col {
						case "time":
							edits = append(edits, "CAST(CAST(time AS TEXT) AS BLOB)")
						case "break_glass", "prev_hash", "hash":
						case "entry":
							edits = append(edits, "CAST(entry AS TEXT)")
						default:
							edits = append(edits, "CAST("+col+" AS BLOB)")
						}
					}
					for _, edit := range edits {
						exec(t, d, `UPDATE audit_entries SET `+col+` = `+edit+` WHERE seq = 7`)
						if rep := mustVerify(t, d, k); rep.BrokenSeq != 7 {
							t.Errorf("%s = %s: got break at %d (%q), want 7", col, edit, rep.BrokenSeq, rep.Problem)
						}
						exec(t, d, `UPDATE audit_entries SET `+col+` = (SELECT `+col+` FROM audit_saved) WHERE seq = 7`)
						if rep := mustVerify(t, d, k); !rep.OK() {
							t.Fatalf("%s restored: %+v", col, rep)
						}
					}
				}
			})
		})
	}
}
