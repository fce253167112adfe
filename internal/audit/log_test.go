package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

func newKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func openLog(tb testing.TB, d *db.DB, k ed25519.PrivateKey, opts Options) *Log {
	tb.Helper()
	l, err := Open(context.Background(), d, k, opts)
	if err != nil {
		tb.Fatalf("open log: %v", err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

func event(i int) Event {
	return Event{
		ActorUserID: fmt.Sprintf("u-%d", i%7), ActorRole: "clinician", WorkspaceID: fmt.Sprintf("w-%d", i%3),
		Action: "patient.read", ResourceType: "patient", ResourceID: fmt.Sprintf("p-%d", i%11),
		PatientID: fmt.Sprintf("p-%d", i%11), Purpose: "treatment", Decision: "allow", Reason: "member",
		BreakGlass: i%13 == 0, ClientAddr: "127.0.0.1", RequestID: fmt.Sprintf("r-%d", i), Outcome: "success",
	}
}

func mustVerify(t *testing.T, d *db.DB, k ed25519.PrivateKey) Report {
	t.Helper()
	return mustVerifyWith(t, d, k, VerifyOptions{})
}

func mustVerifyWith(t *testing.T, d *db.DB, k ed25519.PrivateKey, opts VerifyOptions) Report {
	t.Helper()
	rep, err := Verify(context.Background(), d, k, opts)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func TestAppendReturnsAReceiptForTheEntry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		k := newKey(t)
		l := openLog(t, d, k, Options{})
		ctx := context.Background()
		for i := 1; i <= 3; i++ {
			r, err := l.Append(ctx, event(i))
			if err != nil {
				t.Fatal(err)
			}
			if !r.Valid() || r.Seq() != int64(i) || !r.Covers(event(i).PatientID) || r.Covers("someone-else") {
				t.Fatalf("receipt %d: %+v", i, r)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, event(4)); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("append after close: %v, want ErrUnavailable", err)
		}
		rep := mustVerify(t, d, l.signer)
		if !rep.OK() || rep.Entries != 3 || rep.Checkpoints < 1 {
			t.Fatalf("report %+v", rep)
		}
		// A reopened log continues the chain.
		l2 := openLog(t, d, k, Options{})
		if r, err := l2.Append(ctx, event(5)); err != nil || r.Seq() != 4 {
			t.Fatalf("after reopen: %v %v", r, err)
		}
		l2.Close()
		if rep := mustVerify(t, d, l.signer); !rep.OK() || rep.Entries != 4 {
			t.Fatalf("report after reopen %+v", rep)
		}
	})
}

func TestAppendRefusesAnEventWithoutAction(t *testing.T) {
	d := dbtest.SQLite(t)
	l := openLog(t, d, newKey(t), Options{})
	if _, err := l.Append(context.Background(), Event{}); err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want a validation error", err)
	}
	if _, err := l.Append(context.Background(), Event{Action: "x", Reason: strings.Repeat("a", maxField+1)}); err == nil {
		t.Fatal("an oversized field was accepted")
	}
}

func TestConcurrentAppendsGetUniqueGapFreeSeqsAndTheChainVerifies(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		l := openLog(t, d, newKey(t), Options{CheckpointEvery: 5 * time.Millisecond})
		const writers, each = 64, 40
		seqs := make(chan int64, writers*each)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					e := event(w*each + i)
					r, err := l.Append(context.Background(), e)
					if err != nil {
						t.Error(err)
						return
					}
					if !r.Valid() || !r.Covers(e.PatientID) {
						t.Errorf("invalid receipt %+v", r)
					}
					seqs <- r.Seq()
				}
			})
		}
		wg.Wait()
		close(seqs)
		seen := map[int64]bool{}
		for s := range seqs {
			if seen[s] {
				t.Fatalf("seq %d handed out twice", s)
			}
			seen[s] = true
		}
		for s := int64(1); s <= writers*each; s++ {
			if !seen[s] {
				t.Fatalf("seq %d missing", s)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		rep := mustVerify(t, d, l.signer)
		if !rep.OK() || rep.Entries != writers*each {
			t.Fatalf("report %+v", rep)
		}
	})
}

func TestEncodingIsUnambiguous(t *testing.T) {
	a := encode(nil, 1, 2, &Event{ActorUserID: "ab", ActorTokenID: "c", Action: "x"})
	b := encode(nil, 1, 2, &Event{ActorUserID: "a", ActorTokenID: "bc", Action: "x"})
	if string(a) == string(b) {
		t.Fatal("shifting bytes between fields gives the same encoding")
	}
}

// A multi-row INSERT (as the writer's group commit sends) whose first row
// extends the chain but whose second skips a seq is refused whole: the
// link check covers every row of a statement, not only its first.
func TestDatabaseRefusesAStatementWithOneBadLink(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		filledLog(t, d, 3)
		var head []byte
		if err := d.Write.QueryRow(`SELECT hash FROM audit_entries WHERE seq = 3`).Scan(&head); err != nil {
			t.Fatal(err)
		}
		four := sha256.Sum256([]byte("four"))
		q := `INSERT INTO audit_entries (seq, time, action, prev_hash, hash) VALUES ($1, 0, 'x', $2, $3), ($4, 0, 'x', $5, $6)`
		_, err := d.Write.Exec(q, 4, head, four[:], 6, four[:], four[:])
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("got %v, want an append-only refusal", err)
		}
		var n int
		if err := d.Write.QueryRow(`SELECT COUNT(*) FROM audit_entries`).Scan(&n); err != nil || n != 3 {
			t.Fatalf("entries after the refused statement: %d %v", n, err)
		}
		// The good row alone is accepted.
		if _, err := d.Write.Exec(`INSERT INTO audit_entries (seq, time, action, prev_hash, hash) VALUES ($1, 0, 'x', $2, $3)`, 4, head, four[:]); err != nil {
			t.Fatalf("a row that extends the chain: %v", err)
		}
	})
}

// On PostgreSQL the INSERT trigger's lookup of the previous entry must
// never become a sequential scan: PL/pgSQL keeps the plan it made while
// the table was small, and each insert would then read the whole log.
// Migration 0220 plans the function with sequential scans off.
func TestPostgresChainTriggerPlansWithoutSequentialScans(t *testing.T) {
	d := dbtest.Postgres(t)
	var config []byte
	if err := d.Read.QueryRowContext(context.Background(),
		`SELECT array_to_string(proconfig, ',') FROM pg_proc WHERE proname = 'audit_check_link' AND pronamespace = current_schema()::regnamespace`).Scan(&config); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(config), "enable_seqscan=off") {
		t.Fatalf("audit_check_link settings %q, want enable_seqscan=off", config)
	}
}
