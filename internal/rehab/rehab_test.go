package rehab_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/rehab"
	"github.com/custodia-health/custodia/internal/rehab/rehabtest"
)

const (
	ws      = "ws-1"
	otherWS = "ws-2"
	patient = "patient-1"
	other   = "patient-2" // in the same workspace, with another care team
)

var (
	therapist      = &access.Principal{UserID: "u-therapist", WorkspaceID: ws, Role: access.RoleClinician}
	otherTherapist = &access.Principal{UserID: "u-other-therapist", WorkspaceID: ws, Role: access.RoleClinician}
	foreign        = &access.Principal{UserID: "u-foreign", WorkspaceID: otherWS, Role: access.RoleClinician}
	staff          = &access.Principal{UserID: "u-staff", WorkspaceID: ws, Role: access.RoleStaff}
	admin          = &access.Principal{UserID: "u-admin", WorkspaceID: ws, Role: access.RoleAdmin}
	self           = &access.Principal{UserID: "u-patient", Role: access.RolePatient, PatientID: patient}
	otherPatient   = &access.Principal{UserID: "u-patient-2", Role: access.RolePatient, PatientID: other}
	device         = &access.Principal{UserID: "u-therapist", TokenID: "tok-1", Scopes: []string{"rehab:ingest"}, WorkspaceID: ws, Role: access.RoleClinician}
	readToken      = &access.Principal{UserID: "u-therapist", TokenID: "tok-2", Scopes: []string{"records:read"}, WorkspaceID: ws, Role: access.RoleClinician}
	noScopeToken   = &access.Principal{UserID: "u-therapist", TokenID: "tok-3", WorkspaceID: ws, Role: access.RoleClinician}
)

// day0 is 60 days before the fixture's clock, so generated sessions fall in
// the default 90-day range.
var (
	now  = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	day0 = now.AddDate(0, 0, -60)
)

func fixture(t testing.TB, d *db.DB) *rehabtest.Fixture {
	f := rehabtest.New(t, d, nil, rehab.Options{Now: func() time.Time { return now }})
	f.Facts.AddPatient(patient, ws, therapist.UserID)
	f.Facts.AddPatient(other, ws, otherTherapist.UserID)
	return f
}

func ingest(t *testing.T, f *rehabtest.Fixture, p *access.Principal, body []byte) *rehab.IngestResult {
	t.Helper()
	res, err := f.Service.Ingest(context.Background(), p, patient, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return res
}

func count(t *testing.T, d *db.DB, table string) int {
	t.Helper()
	var n int
	if err := d.Read.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRetriedUploadCreatesNothingTwiceAndReportsDuplicates(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := fixture(t, d)
		body := rehabtest.Batch(rehabtest.BatchSpec{Prefix: "s", Sessions: 5, Exercises: 4, Start: day0})
		first := ingest(t, f, device, body)
		if first.Sessions.Created != 5 || first.Exercises.Created != 20 || len(first.Sessions.Duplicates) != 0 {
			t.Fatalf("first upload: %+v", first)
		}
		again := ingest(t, f, device, body)
		if again.Sessions.Created != 0 || again.Exercises.Created != 0 {
			t.Fatalf("retry created rows: %+v", again)
		}
		if want := []string{"s-0", "s-1", "s-2", "s-3", "s-4"}; !reflect.DeepEqual(again.Sessions.Duplicates, want) {
			t.Fatalf("duplicates %v, want %v", again.Sessions.Duplicates, want)
		}
		// A batch overlapping the stored one creates only the new sessions.
		overlap := rehabtest.Batch(rehabtest.BatchSpec{Prefix: "s", First: 3, Sessions: 4, Exercises: 4, Start: day0})
		third := ingest(t, f, device, overlap)
		if third.Sessions.Created != 2 || third.Exercises.Created != 8 || len(third.Sessions.Duplicates) != 2 {
			t.Fatalf("overlapping upload: %+v", third)
		}
		if n := count(t, d, "rehab_sessions"); n != 7 {
			t.Fatalf("%d sessions stored, want 7", n)
		}
		if n := count(t, d, "rehab_exercises"); n != 28 {
			t.Fatalf("%d exercises stored, want 28", n)
		}
		// The same client id for another patient is not a duplicate.
		f.Facts.AddPatient("patient-3", ws, therapist.UserID)
		res, err := f.Service.Ingest(context.Background(), device, "patient-3", bytes.NewReader(body))
		if err != nil || res.Sessions.Created != 5 {
			t.Fatalf("other patient: %+v %v", res, err)
		}
	})
}

func TestCalibrationsAreIdempotentToo(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := fixture(t, d)
		body := []byte(`{"calibrations":[{"client_id":"c-1","device_id":"d","measured_at":"2025-05-01T10:00:00Z",
			"values":[{"name":"grip_force_n","value":12.5,"at":"2025-05-01T10:00:01Z"},{"name":"grip_force_n","value":13,"at":"2025-05-01T10:00:02Z"}]}]}`)
		if r := ingest(t, f, device, body); r.Calibrations.Created != 1 {
			t.Fatalf("%+v", r)
		}
		if r := ingest(t, f, device, body); r.Calibrations.Created != 0 || len(r.Calibrations.Duplicates) != 1 {
			t.Fatalf("%+v", r)
		}
		cs, err := f.Service.Calibrations(context.Background(), therapist, patient, rehab.RangeAll, 10)
		if err != nil || len(cs) != 1 || len(cs[0].Values) != 2 || cs[0].Values[1].Value != 13 {
			t.Fatalf("%+v %v", cs, err)
		}
	})
}

func TestBadBatchNamesEachBadFieldAndStoresNothing(t *testing.T) {
	good := `{"client_id":"a","device_id":"d","start":"2025-05-01T10:00:00Z","end":"2025-05-01T10:30:00Z","activity_score":50,"game_time_seconds":60,"exercises":[]}`
	ex := `{"type":"wrist","level":2,"side":"left","date":"2025-05-01T10:01:00Z","duration_seconds":30,"performance":70}`
	withEx := func(client, e string) string {
		return strings.Replace(strings.Replace(good, `"exercises":[]`, `"exercises":[`+ex+`,`+e+`]`, 1), `"client_id":"a"`, `"client_id":"`+client+`"`, 1)
	}
	cases := []struct {
		name string
		body string
		want map[string]string
	}{
		{"a side that is not left, right or both",
			`{"sessions":[` + good + `,` + withEx("b", strings.Replace(ex, `"left"`, `"up"`, 1)) + `]}`,
			map[string]string{"sessions[1].exercises[1].side": "must be left, right or both"}},
		{"a level that is not a whole number",
			`{"sessions":[` + withEx("b", strings.Replace(ex, `"level":2`, `"level":2.5`, 1)) + `]}`,
			map[string]string{"sessions[0].exercises[1].level": "must be a whole number"}},
		{"missing and out-of-range values",
			`{"sessions":[` + strings.NewReplacer(`"start":"2025-05-01T10:00:00Z",`, ``, `"activity_score":50`, `"activity_score":101`).Replace(good) + `]}`,
			map[string]string{"sessions[0].start": "is required (RFC 3339, e.g. 2025-03-01T09:30:00Z)", "sessions[0].activity_score": "must be between 0 and 100"}},
		{"an end before the start",
			`{"sessions":[` + strings.Replace(good, `"end":"2025-05-01T10:30:00Z"`, `"end":"2025-05-01T09:00:00Z"`, 1) + `]}`,
			map[string]string{"sessions[0].end": "must not be before start"}},
		{"a time in the future",
			`{"sessions":[` + strings.Replace(withEx("b", ex), `"date":"2025-05-01T10:01:00Z"`, `"date":"2030-01-01T00:00:00Z"`, 1) + `]}`,
			map[string]string{"sessions[0].exercises[0].date": "must not be in the future"}},
		{"a time that is not RFC 3339",
			`{"sessions":[` + strings.Replace(good, `"2025-05-01T10:00:00Z"`, `"01/05/2025"`, 1) + `]}`,
			map[string]string{"sessions[0].start": "must be an RFC 3339 time, e.g. 2025-03-01T09:30:00Z"}},
		{"a client id repeated within the batch",
			`{"sessions":[` + good + `,` + good + `]}`,
			map[string]string{"sessions[1].client_id": "repeats sessions[0].client_id"}},
		{"an unknown field in an exercise",
			`{"sessions":[` + withEx("b", strings.Replace(ex, `"type"`, `"colour":"red","type"`, 1)) + `]}`,
			map[string]string{"sessions[0].exercises[1]": `unknown field "colour"`}},
		{"an empty batch",
			`{"sessions":[]}`,
			map[string]string{"sessions": "the batch is empty: send at least one session or calibration"}},
		{"a calibration without values",
			`{"calibrations":[{"client_id":"c","device_id":"d","measured_at":"2025-05-01T10:00:00Z","values":[]}]}`,
			map[string]string{"calibrations[0].values": "must hold at least one measurement"}},
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := fixture(t, d)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := f.Service.Ingest(context.Background(), device, patient, strings.NewReader(c.body))
				var ve *rehab.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("got %v, want a validation error", err)
				}
				if !reflect.DeepEqual(ve.Fields, c.want) {
					t.Fatalf("fields %v, want %v", ve.Fields, c.want)
				}
				for _, tbl := range []string{"rehab_sessions", "rehab_exercises", "rehab_calibrations"} {
					if n := count(t, d, tbl); n != 0 {
						t.Fatalf("%s holds %d rows after a rejected batch", tbl, n)
					}
				}
			})
		}
	})
}

func TestMalformedAndOversizedBatchesAreRefused(t *testing.T) {
	f := fixture(t, dbtest.SQLite(t))
	for name, body := range map[string]string{
		"not JSON":          `{"sessions":[{]}`,
		"cut short":         `{"sessions":[`,
		"an unknown key":    `{"visits":[]}`,
		"two values":        `{"sessions":[]} {}`,
		"an array of names": `{"sessions":["a"]}`,
	} {
		_, err := f.Service.Ingest(context.Background(), device, patient, strings.NewReader(body))
		var se *rehab.SyntaxError
		var ve *rehab.ValidationError
		if !errors.As(err, &se) && !errors.As(err, &ve) {
			t.Errorf("%s: got %v, want a syntax or validation error", name, err)
		}
	}
	big := rehabtest.Batch(rehabtest.BatchSpec{Prefix: "big", Sessions: 100, Exercises: 50, Start: day0})
	if _, err := f.Service.Ingest(context.Background(), device, patient, bytes.NewReader(big)); !errors.Is(err, rehab.ErrTooManyItems) {
		t.Fatalf("5,100 items: got %v, want ErrTooManyItems", err)
	}
}

func TestAccessFollowsCareTeamWorkspaceRoleAndScope(t *testing.T) {
	cases := []struct {
		name    string
		p       *access.Principal
		patient string
		ingest  error // nil: allowed
		read    error
		plan    error
	}{
		{"therapist on the care team", therapist, patient, nil, nil, nil},
		{"therapist of another patient", otherTherapist, patient, rehab.ErrNotFound, rehab.ErrNotFound, rehab.ErrNotFound},
		{"clinician of another workspace", foreign, patient, rehab.ErrNotFound, rehab.ErrNotFound, rehab.ErrNotFound},
		{"staff", staff, patient, rehab.ErrNotFound, rehab.ErrNotFound, rehab.ErrNotFound},
		{"workspace admin", admin, patient, rehab.ErrNotFound, rehab.ErrNotFound, rehab.ErrNotFound},
		{"the patient", self, patient, nil, nil, rehab.ErrForbidden},
		{"another patient", otherPatient, patient, rehab.ErrNotFound, rehab.ErrNotFound, rehab.ErrNotFound},
		{"a device token with rehab:ingest", device, patient, nil, rehab.ErrNotFound, rehab.ErrNotFound},
		{"a token with records:read only", readToken, patient, rehab.ErrForbidden, nil, rehab.ErrForbidden},
		{"a token without scopes", noScopeToken, patient, rehab.ErrNotFound, rehab.ErrNotFound, rehab.ErrNotFound},
		{"nobody", nil, patient, rehab.ErrNotFound, rehab.ErrNotFound, rehab.ErrNotFound},
		{"a patient that does not exist", therapist, "patient-404", rehab.ErrNotFound, rehab.ErrNotFound, rehab.ErrNotFound},
	}
	f := fixture(t, dbtest.SQLite(t))
	ingest(t, f, device, rehabtest.Batch(rehabtest.BatchSpec{Prefix: "seed", Sessions: 2, Exercises: 2, Start: day0}))
	ctx := context.Background()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := rehabtest.Batch(rehabtest.BatchSpec{Prefix: "case" + string(rune('a'+i)), Sessions: 1, Exercises: 1, Start: day0})
			_, err := f.Service.Ingest(ctx, c.p, c.patient, bytes.NewReader(body))
			if !sameErr(err, c.ingest) {
				t.Errorf("ingest: got %v, want %v", err, c.ingest)
			}
			ov, err := f.Service.Overview(ctx, c.p, c.patient, rehab.RangeAll, 10)
			if !sameErr(err, c.read) {
				t.Errorf("read: got %v, want %v", err, c.read)
			}
			if err != nil && ov != nil {
				t.Errorf("a refused read returned data")
			}
			_, err = f.Service.SetProgramme(ctx, c.p, c.patient, rehab.ProgrammeInput{Name: "Hand", Exercises: []rehab.PlannedExercise{
				{Type: "wrist", Level: 1, Side: rehab.Left, FrequencyPerWeek: 3}}})
			if !sameErr(err, c.plan) {
				t.Errorf("plan: got %v, want %v", err, c.plan)
			}
		})
	}
}

func sameErr(got, want error) bool {
	if want == nil {
		return got == nil
	}
	return errors.Is(got, want)
}

func TestEveryRequestIsAuditedWithCountsAndNoPHI(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := fixture(t, d)
		ctx := context.Background()
		ingest(t, f, device, rehabtest.Batch(rehabtest.BatchSpec{Prefix: "s", Sessions: 3, Exercises: 2, Start: day0}))
		if _, err := f.Service.Overview(ctx, self, patient, rehab.Range90Days, 5); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Service.Overview(ctx, otherTherapist, patient, rehab.Range90Days, 5); !errors.Is(err, rehab.ErrNotFound) {
			t.Fatal(err)
		}
		page, err := f.Log.Query(ctx, audit.Filter{PatientID: patient})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range page.Entries {
			got = append(got, strings.Join([]string{e.Action, e.ActorUserID, e.ActorTokenID, e.ResourceType, e.ResourceID, e.Decision, e.Reason, e.Outcome}, " "))
		}
		want := []string{
			"rehab.read u-other-therapist  rehab_overview  deny not_on_care_team denied",
			"rehab.read u-patient  rehab_overview  allow self success",
			"rehab.ingest u-therapist tok-1 rehab_batch sessions=3;exercises=6;calibrations=0 allow care_team success",
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("audit entries\n got %q\nwant %q", got, want)
		}
	})
}

// failingLog is an audit log that cannot write.
type failingLog struct{}

func (failingLog) Append(context.Context, audit.Event) (audit.Receipt, error) {
	return audit.Receipt{}, audit.ErrUnavailable
}

func TestNoAuditNoDataNoWrite(t *testing.T) {
	d := dbtest.SQLite(t)
	f := rehabtest.New(t, d, func(audit.Appender) audit.Appender { return failingLog{} }, rehab.Options{Now: func() time.Time { return now }})
	f.Facts.AddPatient(patient, ws, therapist.UserID)
	ctx := context.Background()
	body := rehabtest.Batch(rehabtest.BatchSpec{Prefix: "s", Sessions: 2, Exercises: 2, Start: day0})
	if _, err := f.Service.Ingest(ctx, device, patient, bytes.NewReader(body)); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("ingest: got %v, want ErrUnavailable", err)
	}
	if n := count(t, d, "rehab_sessions"); n != 0 {
		t.Fatalf("%d sessions written without an audit entry", n)
	}
	if ov, err := f.Service.Overview(ctx, therapist, patient, rehab.RangeAll, 5); !errors.Is(err, audit.ErrUnavailable) || ov != nil {
		t.Fatalf("read: got %v %v, want ErrUnavailable and nothing", ov, err)
	}
	if _, err := f.Service.Overview(ctx, staff, patient, rehab.RangeAll, 5); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("denied read with the log down: got %v, want ErrUnavailable", err)
	}
}

func TestCanaryNeverReachesTheDatabaseOrDataDirectory(t *testing.T) {
	const canary = "CANARY-7f3a9-rehab"
	d := dbtest.SQLite(t)
	f := fixture(t, d)
	body := rehabtest.Batch(rehabtest.BatchSpec{Prefix: canary + "-client", Sessions: 20, Exercises: 3, Start: day0,
		Type: canary + "-type", DeviceID: canary + "-device"})
	body = append(body[:len(body)-1], []byte(`,"calibrations":[{"client_id":"`+canary+`-cal","device_id":"`+canary+`-device","measured_at":"2025-05-01T10:00:00Z","values":[{"name":"`+canary+`-value","value":1,"at":"2025-05-01T10:00:00Z"}]}]}`)...)
	ingest(t, f, device, body)
	if _, err := f.Service.SetProgramme(context.Background(), therapist, patient, rehab.ProgrammeInput{Name: canary + "-programme",
		Exercises: []rehab.PlannedExercise{{Type: canary + "-planned", Level: 1, Side: rehab.Both, FrequencyPerWeek: 2}}, Notes: canary}); err != nil {
		t.Fatal(err)
	}
	ov, err := f.Service.Overview(context.Background(), therapist, patient, rehab.RangeAll, 5)
	if err != nil || !strings.HasPrefix(ov.Recent[0].Exercises[0].Type, canary) || ov.Programme == nil {
		t.Fatalf("the canary did not round-trip: %v", err)
	}
	f.Log.Close()
	if _, err := d.Write.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	// Scan while the WAL may still hold pages too: every file counts.
	err = filepath.WalkDir(filepath.Dir(d.Path), func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("CANARY-7f3a9")) {
			t.Errorf("canary found in %s", filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestProgressAggregatesPerTypeAndSideByDay(t *testing.T) {
	f := fixture(t, dbtest.SQLite(t))
	ingest(t, f, device, rehabtest.Batch(rehabtest.BatchSpec{Prefix: "s", Sessions: 10, Exercises: 6, Start: day0}))
	p, err := f.Service.Progress(context.Background(), therapist, patient, rehab.Range90Days)
	if err != nil {
		t.Fatal(err)
	}
	if p.Grain != rehab.Day || p.Sessions != 10 || p.Exercises != 60 || len(p.Activity) != 10 {
		t.Fatalf("grain %s sessions %d exercises %d activity %d", p.Grain, p.Sessions, p.Exercises, len(p.Activity))
	}
	// Two types alternate over six exercises with three sides: six series.
	if len(p.Series) != 6 {
		t.Fatalf("%d series, want 6", len(p.Series))
	}
	for _, s := range p.Series {
		if len(s.Points) != 10 || s.Points[0].Count != 1 {
			t.Fatalf("series %s/%s: %d points", s.Type, s.Side, len(s.Points))
		}
	}
	all, err := f.Service.Progress(context.Background(), therapist, patient, rehab.Range30Days)
	if err != nil || all.Sessions != 0 {
		t.Fatalf("30 days before the clock hold no sessions of 60 days ago: %+v %v", all, err)
	}
}

func TestLongRangesAggregateByWeekAndMonth(t *testing.T) {
	f := fixture(t, dbtest.SQLite(t))
	start := now.AddDate(-3, 0, 0)
	ingest(t, f, device, rehabtest.Batch(rehabtest.BatchSpec{Prefix: "y", Sessions: 3 * 365, Exercises: 1, Type: "grip", Start: start}))
	for _, c := range []struct {
		r     rehab.Range
		grain rehab.Grain
		max   int
	}{{rehab.Range1Year, rehab.Week, 54}, {rehab.Range5Years, rehab.Month, 61}, {rehab.RangeAll, rehab.Month, 37}} {
		p, err := f.Service.Progress(context.Background(), self, patient, c.r)
		if err != nil {
			t.Fatal(err)
		}
		if p.Grain != c.grain || len(p.Activity) > c.max {
			t.Errorf("%s: grain %s with %d points, want %s and at most %d", c.r, p.Grain, len(p.Activity), c.grain, c.max)
		}
	}
}

func TestProgrammeKeepsVersions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := fixture(t, d)
		ctx := context.Background()
		if _, err := f.Service.Programme(ctx, therapist, patient); !errors.Is(err, rehab.ErrNoProgramme) {
			t.Fatalf("before enrolment: %v", err)
		}
		in := rehab.ProgrammeInput{Name: "Hand", Exercises: []rehab.PlannedExercise{{Type: "wrist", Level: 2, Side: rehab.Right, FrequencyPerWeek: 3}}}
		for v := 1; v <= 2; v++ {
			got, err := f.Service.SetProgramme(ctx, therapist, patient, in)
			if err != nil || got.Version != v {
				t.Fatalf("version %d: %+v %v", v, got, err)
			}
		}
		got, err := f.Service.Programme(ctx, self, patient)
		if err != nil || got.Version != 2 || got.Exercises[0].Side != rehab.Right || got.CreatedBy != therapist.UserID {
			t.Fatalf("%+v %v", got, err)
		}
		bad := rehab.ProgrammeInput{Name: "", Exercises: []rehab.PlannedExercise{{Type: "w", Level: 0, Side: "up", FrequencyPerWeek: 0}}}
		_, err = f.Service.SetProgramme(ctx, therapist, patient, bad)
		var ve *rehab.ValidationError
		if !errors.As(err, &ve) || len(ve.Fields) != 4 || ve.Fields["exercises[0].side"] != "must be left, right or both" {
			t.Fatalf("%v", err)
		}
	})
}

func TestPortalInvitationWaitsForIdentity(t *testing.T) {
	f := fixture(t, dbtest.SQLite(t))
	ctx := context.Background()
	if err := f.Service.InviteToPortal(ctx, therapist, patient, "pat@example.org"); !errors.Is(err, rehab.ErrNoPortal) {
		t.Fatalf("got %v", err)
	}
	if err := f.Service.InviteToPortal(ctx, self, patient, "pat@example.org"); !errors.Is(err, rehab.ErrForbidden) {
		t.Fatalf("a patient inviting: got %v", err)
	}
	inv := &recordingInviter{}
	g := rehabtest.New(t, dbtest.SQLite(t), nil, rehab.Options{Portal: inv})
	g.Facts.AddPatient(patient, ws, therapist.UserID)
	if err := g.Service.InviteToPortal(ctx, therapist, patient, "not an address"); err == nil {
		t.Fatal("a bad address was accepted")
	}
	if err := g.Service.InviteToPortal(ctx, therapist, patient, "pat@example.org"); err != nil || inv.patient != patient || inv.ws != ws {
		t.Fatalf("%v %+v", err, inv)
	}
}

type recordingInviter struct{ ws, patient string }

func (r *recordingInviter) InvitePatient(_ context.Context, _ *access.Principal, ws, patientID, _ string) error {
	r.ws, r.patient = ws, patientID
	return nil
}

func TestDBCareTeamReadsTheRecordsTables(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		if _, err := d.Write.Exec(`SELECT 1 FROM patients LIMIT 1`); err == nil {
			t.Skip("the records domain's tables exist: its own tests cover them")
		}
		// Test-only stand-ins for the tables the records domain will own.
		for _, q := range []string{
			`CREATE TABLE patients (id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL)`,
			`CREATE TABLE care_team (patient_id TEXT NOT NULL, user_id TEXT NOT NULL)`,
			`INSERT INTO patients VALUES ('p1', 'w1')`,
			`INSERT INTO care_team VALUES ('p1', 'u1')`,
		} {
			if _, err := d.Write.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		c := rehab.DBCareTeam{DB: d}
		ctx := context.Background()
		if w, err := c.WorkspaceOf(ctx, "p1"); err != nil || w != "w1" {
			t.Fatalf("%q %v", w, err)
		}
		if _, err := c.WorkspaceOf(ctx, "p2"); !errors.Is(err, rehab.ErrNotFound) {
			t.Fatalf("%v", err)
		}
		for u, want := range map[string]bool{"u1": true, "u2": false} {
			if got, err := c.OnCareTeam(ctx, "p1", u); err != nil || got != want {
				t.Fatalf("%s: %v %v", u, got, err)
			}
		}
	})
}

// Batches of every size go through a fixed set of prepared inserts (one per
// size in rehab.InsertSizes and kind), not one per row count, and store
// every row; a retry whose sessions are partly stored inserts only the rest.
func TestIngestKeepsAFixedSetOfPreparedInserts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := fixture(t, d)
		start := now.AddDate(-3, 0, 0)
		first, sessions, exercises := 0, 0, 0
		for i, n := range []int{1, 3, 7, 50, 199, 201, 333, 2, 117} {
			ex := 1 + i%4
			res := ingest(t, f, device, rehabtest.Batch(rehabtest.BatchSpec{Prefix: "s", First: first, Sessions: n, Exercises: ex, Start: start}))
			if res.Sessions.Created != n || res.Exercises.Created != n*ex {
				t.Fatalf("batch of %d sessions x %d: %+v", n, ex, res)
			}
			first, sessions, exercises = first+n, sessions+n, exercises+n*ex
		}
		// A retry of the last 117 sessions plus 45 new ones: the exercises
		// inserted are fewer than the batch holds.
		res := ingest(t, f, device, rehabtest.Batch(rehabtest.BatchSpec{Prefix: "s", First: first - 117, Sessions: 162, Exercises: 3, Start: start}))
		if res.Sessions.Created != 45 || len(res.Sessions.Duplicates) != 117 || res.Exercises.Created != 45*3 {
			t.Fatalf("retry: created %d sessions, %d exercises, %d duplicates", res.Sessions.Created, res.Exercises.Created, len(res.Sessions.Duplicates))
		}
		sessions, exercises = sessions+45, exercises+45*3
		if got := count(t, d, "rehab_sessions"); got != sessions {
			t.Errorf("%d sessions stored, want %d", got, sessions)
		}
		if got := count(t, d, "rehab_exercises"); got != exercises {
			t.Errorf("%d exercises stored, want %d", got, exercises)
		}
		if n, most := f.Service.PreparedStatements(), 3*len(rehab.InsertSizes); n > most {
			t.Errorf("%d prepared inserts, want at most %d", n, most)
		}
	})
}

// Every row count splits into prepared sizes that add up to it, with at
// most one statement per size below a full chunk.
func TestSplitRowsUsesThePreparedSizes(t *testing.T) {
	sizes := map[int]bool{}
	for _, s := range rehab.InsertSizes {
		sizes[s] = true
	}
	for n := range 1000 {
		sum, small := 0, map[int]int{}
		_ = rehab.SplitRows(n, func(size int) error {
			if !sizes[size] {
				t.Fatalf("%d rows: size %d is not prepared", n, size)
			}
			if size != rehab.InsertSizes[0] {
				small[size]++
				if small[size] > 1 {
					t.Fatalf("%d rows: size %d used twice", n, size)
				}
			}
			sum += size
			return nil
		})
		if sum != n {
			t.Fatalf("%d rows split into sizes adding up to %d", n, sum)
		}
	}
}
