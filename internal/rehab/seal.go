package rehab

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/keys"
)

// The sealed forms: one JSON object per row, short keys because there are
// millions of rows. Times are unix microseconds inside the seal; the only
// date element outside it is the row's year.
type sessionRecord struct {
	ClientID string  `json:"c"`
	DeviceID string  `json:"d"`
	Start    int64   `json:"s"`
	End      int64   `json:"e"`
	Score    float64 `json:"a"`
	GameTime float64 `json:"g"`
}

type exerciseRecord struct {
	Type        string  `json:"t"`
	Inventory   string  `json:"i,omitempty"`
	Level       int     `json:"l"`
	Side        Side    `json:"s"`
	Date        int64   `json:"d"`
	Duration    float64 `json:"u"`
	Performance float64 `json:"p"`
}

type calibrationRecord struct {
	ClientID   string              `json:"c"`
	DeviceID   string              `json:"d"`
	MeasuredAt int64               `json:"m"`
	Values     []measurementRecord `json:"v"`
}

type measurementRecord struct {
	Name  string  `json:"n"`
	Value float64 `json:"v"`
	At    int64   `json:"a"`
}

type programmeRecord struct {
	Name      string            `json:"n"`
	Exercises []PlannedExercise `json:"x"`
	Notes     string            `json:"o,omitempty"`
	CreatedAt int64             `json:"t"`
}

// The tables and the one sealed column of each.
const (
	tableSessions     = "rehab_sessions"
	tableExercises    = "rehab_exercises"
	tableCalibrations = "rehab_calibrations"
	tableProgrammes   = "rehab_programmes"
	columnRecord      = "record"
)

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// exerciseRowID names an exercise row for its seal's associated data.
func exerciseRowID(sessionID string, ordinal int) string {
	return sessionID + "/" + strconv.Itoa(ordinal)
}

// seal packs v as JSON and seals it for table/row.
func seal(k *keys.Key, table, rowID string, v any) ([]byte, error) {
	pt, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("pack %s record: %w", table, err)
	}
	ct, err := keys.SealField(k, pt, keys.FieldAD{Table: table, RowID: rowID, Column: columnRecord})
	clear(pt)
	if err != nil {
		return nil, fmt.Errorf("seal %s record: %w", table, err)
	}
	return ct, nil
}

// open decrypts and unpacks a record. It demands the receipt of the audit
// entry for this patient, so no path can decrypt without having audited.
func open(rc audit.Receipt, patientID string, k *keys.Key, table, rowID string, ct []byte, v any) error {
	if err := checkReceipt(rc, patientID); err != nil {
		return err
	}
	pt, err := keys.OpenField(k, ct, keys.FieldAD{Table: table, RowID: rowID, Column: columnRecord})
	if err != nil {
		return fmt.Errorf("open %s record %s: %w", table, rowID, err)
	}
	if f, ok := v.(fastDecoder); ok && f.decodeFast(pt) {
		clear(pt)
		return nil
	}
	err = json.Unmarshal(pt, v)
	clear(pt)
	if err != nil {
		return fmt.Errorf("unpack %s record %s: %w", table, rowID, err)
	}
	return nil
}

// newIDs returns n random 128-bit ids from one read of the CSPRNG.
func newIDs(n int) []string {
	b := make([]byte, 16*n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = hex.EncodeToString(b[16*i : 16*(i+1)])
	}
	return ids
}

// clientRef is the blind index of a device's client id, keyed with the
// patient's key: retries are recognised without storing the id, and
// shredding the patient makes the references meaningless.
func clientRef(k *keys.Key, table, clientID string) []byte {
	return keys.BlindIndex(k, table+".client_id", clientID)
}
