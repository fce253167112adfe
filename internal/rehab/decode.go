package rehab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of one ingest request. A device that was offline for a week sends
// everything at once, so a batch may be large, but not unbounded.
const (
	// MaxItems is the most sessions + exercises + calibrations per request.
	MaxItems = 5000
	// MaxBodyBytes caps the request body (about 3 KiB per item).
	MaxBodyBytes = 16 << 20
	// maxFieldErrors caps how many per-field reasons one answer lists.
	maxFieldErrors = 100
	// maxMeasurements caps the values of one calibration.
	maxMeasurements = 1000
)

// ErrTooManyItems means the batch holds more than MaxItems items.
var ErrTooManyItems = fmt.Errorf("rehab: a batch may hold at most %d items (sessions, exercises and calibrations together); split it", MaxItems)

// Batch is one upload from a device or app.
type Batch struct {
	Sessions     []Session
	Calibrations []Calibration
}

// Counts returns how many sessions, exercises and calibrations b holds.
func (b *Batch) Counts() (sessions, exercises, calibrations int) {
	for i := range b.Sessions {
		exercises += len(b.Sessions[i].Exercises)
	}
	return len(b.Sessions), exercises, len(b.Calibrations)
}

// ValidationError lists every bad field of a batch by its path, e.g.
// "sessions[3].exercises[1].side" → "must be left, right or both". Reasons
// never repeat the value that was sent, which may be PHI.
type ValidationError struct {
	Fields    map[string]string
	Truncated bool // more fields were bad than are listed
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("rehab: %d invalid fields in the batch", len(e.Fields))
}

// Paths returns the bad fields' paths in a stable order.
func (e *ValidationError) Paths() []string {
	p := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		p = append(p, k)
	}
	sort.Strings(p)
	return p
}

// SyntaxError means the body is not the JSON the API expects; At says where
// (e.g. "sessions[12]") when known.
type SyntaxError struct {
	At     string
	Reason string
}

func (e *SyntaxError) Error() string {
	if e.At == "" {
		return "rehab: malformed batch: " + e.Reason
	}
	return "rehab: malformed batch at " + e.At + ": " + e.Reason
}

// The wire forms: pointers tell "missing" from zero, strings hold times so a
// bad one gets a field-level reason.
type sessionInput struct {
	ClientID        *string           `json:"client_id"`
	DeviceID        *string           `json:"device_id"`
	Start           *string           `json:"start"`
	End             *string           `json:"end"`
	ActivityScore   *float64          `json:"activity_score"`
	GameTimeSeconds *float64          `json:"game_time_seconds"`
	Exercises       []json.RawMessage `json:"exercises"`
}

type exerciseInput struct {
	Type            *string  `json:"type"`
	Inventory       *string  `json:"inventory"`
	Level           *int     `json:"level"`
	Side            *string  `json:"side"`
	Date            *string  `json:"date"`
	DurationSeconds *float64 `json:"duration_seconds"`
	Performance     *float64 `json:"performance"`
}

type calibrationInput struct {
	ClientID   *string            `json:"client_id"`
	DeviceID   *string            `json:"device_id"`
	MeasuredAt *string            `json:"measured_at"`
	Values     []measurementInput `json:"values"`
}

type measurementInput struct {
	Name  *string  `json:"name"`
	Value *float64 `json:"value"`
	At    *string  `json:"at"`
}

// DecodeBatch reads and validates an upload as a stream: items are decoded
// one at a time, so a bad one is named by its index and the decoder never
// holds the raw body. now bounds how far in the future a time may be. It
// returns a *ValidationError listing every bad field, a *SyntaxError,
// ErrTooManyItems, or the reader's error (e.g. the body size limit).
func DecodeBatch(r io.Reader, now time.Time) (*Batch, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	v := &validator{fields: map[string]string{}, now: now}
	b := &Batch{}
	if err := expectDelim(dec, '{', ""); err != nil {
		return nil, err
	}
	items := 0
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxErr("", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, &SyntaxError{Reason: "the key " + strconv.Quote(key) + " appears twice"}
		}
		seen[key] = true
		switch key {
		case "sessions":
			err = eachItem(dec, "sessions", func(i int) error {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return syntaxErr(fmt.Sprintf("sessions[%d]", i), err)
				}
				s, n := v.session(i, raw)
				items += 1 + n
				if items > MaxItems {
					return ErrTooManyItems
				}
				b.Sessions = append(b.Sessions, s)
				return nil
			})
		case "calibrations":
			err = eachItem(dec, "calibrations", func(i int) error {
				var in calibrationInput
				path := fmt.Sprintf("calibrations[%d]", i)
				if err := dec.Decode(&in); err != nil && !v.decodeErr(path, err) {
					return syntaxErr(path, err)
				}
				items++
				if items > MaxItems {
					return ErrTooManyItems
				}
				b.Calibrations = append(b.Calibrations, v.calibration(path, &in))
				return nil
			})
		default:
			return nil, &SyntaxError{Reason: "unknown field " + strconv.Quote(truncate(key, 40)) + ": expected sessions and calibrations"}
		}
		if err != nil {
			return nil, err
		}
	}
	if err := expectDelim(dec, '}', ""); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &SyntaxError{Reason: "the body holds more than one JSON value"}
	}
	if items == 0 {
		v.bad("sessions", "the batch is empty: send at least one session or calibration")
	}
	v.duplicates(b)
	if len(v.fields) > 0 {
		return nil, &ValidationError{Fields: v.fields, Truncated: v.truncated}
	}
	return b, nil
}

func expectDelim(dec *json.Decoder, want json.Delim, at string) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxErr(at, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		what := "an object"
		if want == '[' {
			what = "an array"
		}
		if want == '}' || want == ']' {
			what = "the end of " + strings.TrimPrefix(what, "an ")
		}
		return &SyntaxError{At: at, Reason: "expected " + what}
	}
	return nil
}

// eachItem walks the array that follows a key, calling fn for each element
// with its index; fn decodes the element itself.
func eachItem(dec *json.Decoder, name string, fn func(i int) error) error {
	if err := expectDelim(dec, '[', name); err != nil {
		return err
	}
	for i := 0; dec.More(); i++ {
		if err := fn(i); err != nil {
			return err
		}
	}
	return expectDelim(dec, ']', name)
}

// syntaxErr turns a decoder error into a SyntaxError, leaving reader errors
// (the body limit, a broken connection) for the caller to see as they are.
func syntaxErr(at string, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return &SyntaxError{At: at, Reason: "invalid JSON"}
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return &SyntaxError{At: at, Reason: "the body ended too early"}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &SyntaxError{At: at, Reason: "expected an object"}
	}
	return fmt.Errorf("read batch: %w", err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

type validator struct {
	fields    map[string]string
	truncated bool
	now       time.Time
	exDec     exerciseInput
}

func (v *validator) bad(path, reason string) {
	if _, ok := v.fields[path]; ok {
		return
	}
	if len(v.fields) >= maxFieldErrors {
		v.truncated = true
		return
	}
	v.fields[path] = reason
}

// decodeErr records a type mismatch or unknown field the decoder reported
// inside the element at path, and says whether it did (the decoder then
// went on to the element's end, so decoding can continue).
func (v *validator) decodeErr(path string, err error) bool {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field != "" {
			field = "." + field
		}
		v.bad(path+field, "must be "+kindName(te.Type))
		return true
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		v.bad(path, "unknown field "+truncate(name, 40))
		return true
	}
	return false
}

func kindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array"
	case reflect.Struct:
		return "an object"
	}
	return "of another type"
}

func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (v *validator) session(i int, raw []byte) (Session, int) {
	path := fmt.Sprintf("sessions[%d]", i)
	var in sessionInput
	if err := decodeStrict(raw, &in); err != nil && !v.decodeErr(path, err) {
		v.bad(path, "must be an object")
		return Session{}, 0
	}
	s := Session{
		ClientID:        v.text(path+".client_id", in.ClientID, 128, true),
		DeviceID:        v.text(path+".device_id", in.DeviceID, 128, true),
		Start:           v.time(path+".start", in.Start),
		End:             v.time(path+".end", in.End),
		ActivityScore:   v.number(path+".activity_score", in.ActivityScore, 0, 100),
		GameTimeSeconds: v.number(path+".game_time_seconds", in.GameTimeSeconds, 0, 86400),
	}
	if !s.Start.IsZero() && !s.End.IsZero() {
		switch {
		case s.End.Before(s.Start):
			v.bad(path+".end", "must not be before start")
		case s.End.Sub(s.Start) > 24*time.Hour:
			v.bad(path+".end", "a session may last at most 24 hours")
		}
	}
	if len(in.Exercises) > MaxItems {
		v.bad(path+".exercises", fmt.Sprintf("at most %d exercises per batch", MaxItems))
		return s, len(in.Exercises)
	}
	s.Exercises = make([]Exercise, 0, len(in.Exercises))
	for j, rawEx := range in.Exercises {
		s.Exercises = append(s.Exercises, v.exercise(fmt.Sprintf("%s.exercises[%d]", path, j), rawEx))
	}
	return s, len(in.Exercises)
}

func (v *validator) exercise(path string, raw []byte) Exercise {
	in := &v.exDec
	*in = exerciseInput{}
	if err := decodeStrict(raw, in); err != nil && !v.decodeErr(path, err) {
		v.bad(path, "must be an object")
		return Exercise{}
	}
	e := Exercise{
		Type:            v.text(path+".type", in.Type, 100, true),
		Inventory:       v.text(path+".inventory", in.Inventory, 200, false),
		Date:            v.time(path+".date", in.Date),
		DurationSeconds: v.number(path+".duration_seconds", in.DurationSeconds, 0, 86400),
		Performance:     v.number(path+".performance", in.Performance, 0, 100),
	}
	switch {
	case in.Level == nil:
		v.bad(path+".level", "is required")
	case *in.Level < 1 || *in.Level > 100:
		v.bad(path+".level", "must be between 1 and 100")
	default:
		e.Level = *in.Level
	}
	switch {
	case in.Side == nil:
		v.bad(path+".side", "is required: left, right or both")
	case !Side(*in.Side).Valid():
		v.bad(path+".side", "must be left, right or both")
	default:
		e.Side = Side(*in.Side)
	}
	return e
}

func (v *validator) calibration(path string, in *calibrationInput) Calibration {
	c := Calibration{
		ClientID:   v.text(path+".client_id", in.ClientID, 128, true),
		DeviceID:   v.text(path+".device_id", in.DeviceID, 128, true),
		MeasuredAt: v.time(path+".measured_at", in.MeasuredAt),
	}
	switch {
	case len(in.Values) == 0:
		v.bad(path+".values", "must hold at least one measurement")
	case len(in.Values) > maxMeasurements:
		v.bad(path+".values", fmt.Sprintf("at most %d measurements", maxMeasurements))
	}
	for j := range in.Values {
		if j >= maxMeasurements {
			break
		}
		m := &in.Values[j]
		mp := fmt.Sprintf("%s.values[%d]", path, j)
		val := 0.0
		if m.Value == nil {
			v.bad(mp+".value", "is required")
		} else {
			val = *m.Value
		}
		c.Values = append(c.Values, Measurement{
			Name:  v.text(mp+".name", m.Name, 64, true),
			Value: val,
			At:    v.time(mp+".at", m.At),
		})
	}
	return c
}

func (v *validator) text(path string, s *string, max int, required bool) string {
	switch {
	case s == nil || *s == "":
		if required {
			v.bad(path, "is required")
		}
		return ""
	case len(*s) > max:
		v.bad(path, fmt.Sprintf("must be at most %d bytes", max))
		return ""
	case strings.ContainsFunc(*s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == utf8.RuneError }):
		v.bad(path, "must not hold control characters or invalid UTF-8")
		return ""
	}
	return *s
}

// earliest is the earliest time a device may report: anything before is a
// clock that was never set.
var earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func (v *validator) time(path string, s *string) time.Time {
	if s == nil || *s == "" {
		v.bad(path, "is required (RFC 3339, e.g. 2025-03-01T09:30:00Z)")
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	switch {
	case err != nil:
		v.bad(path, "must be an RFC 3339 time, e.g. 2025-03-01T09:30:00Z")
		return time.Time{}
	case t.Before(earliest):
		v.bad(path, "must not be before 2000-01-01")
		return time.Time{}
	case t.After(v.now.Add(24 * time.Hour)):
		v.bad(path, "must not be in the future")
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func (v *validator) number(path string, f *float64, lo, hi float64) float64 {
	switch {
	case f == nil:
		v.bad(path, "is required")
	case math.IsNaN(*f) || *f < lo || *f > hi:
		v.bad(path, fmt.Sprintf("must be between %g and %g", lo, hi))
	default:
		return *f
	}
	return 0
}

// duplicates rejects a client id used twice in one batch: that is a bug in
// the device, not a retry, and which one to keep would be a guess.
func (v *validator) duplicates(b *Batch) {
	first := make(map[string]int, len(b.Sessions))
	for i := range b.Sessions {
		id := b.Sessions[i].ClientID
		if id == "" {
			continue
		}
		if j, ok := first[id]; ok {
			v.bad(fmt.Sprintf("sessions[%d].client_id", i), fmt.Sprintf("repeats sessions[%d].client_id", j))
			continue
		}
		first[id] = i
	}
	clear(first)
	for i := range b.Calibrations {
		id := b.Calibrations[i].ClientID
		if id == "" {
			continue
		}
		if j, ok := first[id]; ok {
			v.bad(fmt.Sprintf("calibrations[%d].client_id", i), fmt.Sprintf("repeats calibrations[%d].client_id", j))
			continue
		}
		first[id] = i
	}
}
