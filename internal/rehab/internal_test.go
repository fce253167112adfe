package rehab

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/keys"
)

func TestRecordsOpenOnlyWithAReceiptAndInTheirOwnRow(t *testing.T) {
	k, err := keys.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	ct, err := seal(k, tableSessions, "row-1", sessionRecord{ClientID: "c", Score: 5})
	if err != nil {
		t.Fatal(err)
	}
	var rec sessionRecord
	if err := open(audit.Receipt{}, "p1", k, tableSessions, "row-1", ct, &rec); !errors.Is(err, errNoReceipt) {
		t.Fatalf("opened without a receipt: %v", err)
	}
	// A receipt is only made by Append; its absence is enough here, and the
	// service tests prove a real one opens records. A record moved to
	// another row or table does not open.
	if _, err := keys.OpenField(k, ct, keys.FieldAD{Table: tableSessions, RowID: "row-2", Column: columnRecord}); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("opened in another row: %v", err)
	}
	if _, err := keys.OpenField(k, ct, keys.FieldAD{Table: tableCalibrations, RowID: "row-1", Column: columnRecord}); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("opened in another table: %v", err)
	}
}

func TestGrainBucketsStartOnMidnightMondayAndTheFirst(t *testing.T) {
	ts := time.Date(2025, 5, 29, 15, 4, 5, 0, time.UTC) // a Thursday
	for g, want := range map[Grain]time.Time{
		Day:   time.Date(2025, 5, 29, 0, 0, 0, 0, time.UTC),
		Week:  time.Date(2025, 5, 26, 0, 0, 0, 0, time.UTC),
		Month: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got := g.bucket(ts); !got.Equal(want) {
			t.Errorf("%s: %v, want %v", g, got, want)
		}
	}
}

// FuzzDecodeBatch feeds arbitrary bodies to the upload parser: it must never
// panic, and whatever it accepts must be within the documented limits.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"sessions":[{"client_id":"a","device_id":"d","start":"2025-05-01T10:00:00Z","end":"2025-05-01T10:30:00Z","activity_score":50,"game_time_seconds":60,"exercises":[{"type":"w","level":2,"side":"left","date":"2025-05-01T10:01:00Z","duration_seconds":30,"performance":70}]}]}`))
	f.Add([]byte(`{"calibrations":[{"client_id":"c","device_id":"d","measured_at":"2025-05-01T10:00:00Z","values":[{"name":"g","value":1,"at":"2025-05-01T10:00:00Z"}]}]}`))
	f.Add([]byte(`{"sessions":[{"exercises":[1,{"level":"x"}]}],"sessions":[]}`))
	f.Add([]byte(`[]`))
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := DecodeBatch(bytes.NewReader(body), now)
		if err != nil {
			if b != nil {
				t.Fatal("a batch returned with an error")
			}
			return
		}
		ns, ne, nc := b.Counts()
		if ns+ne+nc == 0 || ns+ne+nc > MaxItems {
			t.Fatalf("accepted %d items", ns+ne+nc)
		}
		for _, s := range b.Sessions {
			if s.ClientID == "" || s.End.Before(s.Start) || s.Start.Before(earliest) {
				t.Fatalf("accepted an invalid session %+v", s)
			}
			for _, e := range s.Exercises {
				if !e.Side.Valid() || e.Level < 1 || e.Level > 100 || e.Type == "" {
					t.Fatalf("accepted an invalid exercise %+v", e)
				}
			}
		}
	})
}

// TestFastDecodingMatchesEncodingJSON proves the fast reader gives exactly
// what encoding/json gives, and gives up (so the caller falls back) on
// anything unusual.
func TestFastDecodingMatchesEncodingJSON(t *testing.T) {
	ex := []exerciseRecord{
		{Type: "wrist_flexion", Inventory: "ball", Level: 3, Side: Left, Date: 1717236000000000, Duration: 61.5, Performance: 72.25},
		{Type: "grip", Level: 100, Side: Both, Date: -5, Duration: 0, Performance: 1e-7},
		{Type: `quote " and \ back`, Side: Right, Level: 1},
		{Type: "ünïcødé ✓", Side: Right, Level: 1},
	}
	for _, want := range ex {
		b, _ := json.Marshal(want)
		var got exerciseRecord
		if got.decodeFast(b) {
			if got != want {
				t.Fatalf("fast %+v, want %+v", got, want)
			}
		} else if !bytes.Contains(b, []byte(`\`)) {
			t.Fatalf("fast reader gave up on plain %s", b)
		}
	}
	ss := sessionRecord{ClientID: "c-1", DeviceID: "d", Start: 1, End: 2, Score: 50.5, GameTime: 600}
	b, _ := json.Marshal(ss)
	var got sessionRecord
	if !got.decodeFast(b) || got != ss {
		t.Fatalf("%+v", got)
	}
	for _, bad := range []string{``, `{`, `[]`, `{"t":1}`, `{"l":"3"}`, `{"t":"a","x":{}}`, `{"t":"a",}`, `{"t" "a"}`, `{"p":1e999}`} {
		var r exerciseRecord
		if r.decodeFast([]byte(bad)) {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzFastDecoding(f *testing.F) {
	f.Add([]byte(`{"t":"w","i":"b","l":3,"s":"left","d":1,"u":2,"p":3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast, slow exerciseRecord
		if fast.decodeFast(b) {
			if err := json.Unmarshal(b, &slow); err == nil && fast != slow {
				t.Fatalf("fast %+v, encoding/json %+v", fast, slow)
			}
		}
	})
}
