package web

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/chart"
	"github.com/custodia-health/custodia/internal/rehab"
)

func init() { routeSets = append(routeSets, (*Server).routesRehab) }

// routesRehab registers remote rehabilitation: the device ingestion and
// reading API, the therapist's page, the patient's "My progress" page and
// their CSV exports. Every route needs a signed-in principal (pages send
// others to sign in, the API answers 401); the rehab service then decides,
// audits and decrypts (its allow entries are the guard's receipts).
func (s *Server) routesRehab(mux Mux) {
	s.phi(mux, "POST /api/v1/patients/{id}/rehab/ingest", auditedByService, s.requireUser(s.apiRehabIngest))
	s.phi(mux, "GET /api/v1/patients/{id}/rehab/sessions", auditedByService, s.requireUser(s.apiRehabSessions))
	s.phi(mux, "GET /api/v1/patients/{id}/rehab/calibrations", auditedByService, s.requireUser(s.apiRehabCalibrations))
	s.phi(mux, "GET /api/v1/patients/{id}/rehab/progress", auditedByService, s.requireUser(s.apiRehabProgress))
	s.phi(mux, "GET /api/v1/patients/{id}/rehab/programme", auditedByService, s.requireUser(s.apiRehabProgramme))
	s.phi(mux, "POST /api/v1/patients/{id}/rehab/programme", auditedByService, s.requireUser(s.apiRehabSetProgramme))
	s.phi(mux, "GET /patients/{id}/rehab", auditedByService, s.requireUser(s.pageRehab))
	s.phi(mux, "GET /patients/{id}/rehab/progress.csv", auditedByService, s.requireUser(s.csvRehab))
	s.phi(mux, "POST /patients/{id}/rehab/invite", auditedByService, s.requireUser(s.postRehabInvite))
	s.phi(mux, "POST /patients/{id}/rehab/programme", auditedByService, s.requireUser(s.postRehabProgramme))
	s.phi(mux, "GET /my/progress", auditedByService, s.requireUser(s.pageMyProgress))
	s.phi(mux, "GET /my/progress.csv", auditedByService, s.requireUser(s.csvMyProgress))
}

// principalOf returns the request's principal with the request id and
// client address filled in for the audit entry, or nil if nobody signed in.
func principalOf(r *http.Request) *access.Principal {
	p, ok := access.PrincipalFrom(r.Context())
	if !ok {
		return nil
	}
	c := *p
	if c.RequestID == "" {
		c.RequestID = RequestID(r.Context())
	}
	if c.ClientAddr == "" {
		c.ClientAddr = r.RemoteAddr
	}
	return &c
}

// rehabReady answers 503 when the server was built without the service.
func (s *Server) rehabReady(w http.ResponseWriter, r *http.Request) bool {
	if s.rehab != nil {
		return true
	}
	if wantsHTML(r) {
		s.renderError(w, r, http.StatusServiceUnavailable, "Remote rehabilitation is not set up on this server.")
	} else {
		WriteProblem(w, r, http.StatusServiceUnavailable, "Remote rehabilitation is not set up on this server.")
	}
	return false
}

// rehabStatus maps a rehab error to a status and a message that holds no PHI.
func (s *Server) rehabStatus(r *http.Request, err error) (int, string) {
	var se *rehab.SyntaxError
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, rehab.ErrNotFound):
		return http.StatusNotFound, "There is no such patient, or you have no access to their rehabilitation record."
	case errors.Is(err, rehab.ErrForbidden):
		return http.StatusForbidden, "You may not do this with this patient's rehabilitation record."
	case errors.Is(err, rehab.ErrNoProgramme):
		return http.StatusNotFound, "The patient has not been enrolled in a programme yet."
	case errors.Is(err, audit.ErrUnavailable):
		return http.StatusServiceUnavailable, "The audit log cannot be written just now, so no health data can be read or changed. Try again shortly."
	case errors.Is(err, rehab.ErrPortalMinor):
		return http.StatusUnprocessableEntity, "This patient is under 18: their parent or guardian gets portal access instead."
	case errors.Is(err, rehab.ErrNoPortal):
		return http.StatusServiceUnavailable, "Patient portal invitations are not available on this server yet."
	case errors.Is(err, rehab.ErrTooManyItems):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d MiB; split the upload.", rehab.MaxBodyBytes>>20)
	case errors.As(err, &se):
		return http.StatusBadRequest, strings.TrimPrefix(se.Error(), "rehab: ")
	}
	s.log.Error("rehab request failed", "request_id", RequestID(r.Context()), "route", r.Pattern, "err", err.Error())
	return unexpectedStatus(err)
}

func (s *Server) rehabAPIError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *rehab.ValidationError
	if errors.As(err, &ve) {
		detail := "Some fields are invalid; nothing was stored."
		if ve.Truncated {
			detail = "Many fields are invalid (the first ones are listed); nothing was stored."
		}
		WriteValidation(w, r, detail, ve.Fields)
		return
	}
	status, msg := s.rehabStatus(r, err)
	WriteProblem(w, r, status, msg)
}

func (s *Server) apiRehabIngest(w http.ResponseWriter, r *http.Request) {
	if !s.rehabReady(w, r) {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		WriteProblem(w, r, http.StatusUnsupportedMediaType, "Send the upload as application/json.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, rehab.MaxBodyBytes)
	res, err := s.rehab.Ingest(r.Context(), principalOf(r), r.PathValue("id"), r.Body)
	if err != nil {
		s.rehabAPIError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

// rangeParam reads ?range=; it names a period, never a date, so no PHI
// travels in the URL.
func rangeParam(w http.ResponseWriter, r *http.Request) (rehab.Range, bool) {
	rng, ok := rehab.ParseRange(r.URL.Query().Get("range"))
	if !ok {
		WriteValidation(w, r, "Unknown range.", map[string]string{"range": "must be one of 30d, 90d, 1y, 5y, all"})
	}
	return rng, ok
}

func limitParam(w http.ResponseWriter, r *http.Request, def, max int) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		WriteValidation(w, r, "Bad limit.", map[string]string{"limit": fmt.Sprintf("must be a whole number from 1 to %d", max)})
		return 0, false
	}
	return n, true
}

func (s *Server) apiRehabSessions(w http.ResponseWriter, r *http.Request) {
	apiRehabList(s, w, r, "sessions", s.rehab.Sessions)
}

func (s *Server) apiRehabCalibrations(w http.ResponseWriter, r *http.Request) {
	apiRehabList(s, w, r, "calibrations", s.rehab.Calibrations)
}

// apiRehabList answers a page of one kind of a patient's rehabilitation
// records in the request's range as {key: [...]}.
func apiRehabList[T any](s *Server, w http.ResponseWriter, r *http.Request, key string,
	list func(ctx context.Context, p *access.Principal, patientID string, rng rehab.Range, limit int) ([]T, error)) {
	if !s.rehabReady(w, r) {
		return
	}
	rng, ok := rangeParam(w, r)
	if !ok {
		return
	}
	limit, ok := limitParam(w, r, 50, 1000)
	if !ok {
		return
	}
	items, err := list(r.Context(), principalOf(r), r.PathValue("id"), rng, limit)
	if err != nil {
		s.rehabAPIError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{key: items})
}

func (s *Server) apiRehabProgress(w http.ResponseWriter, r *http.Request) {
	if !s.rehabReady(w, r) {
		return
	}
	rng, ok := rangeParam(w, r)
	if !ok {
		return
	}
	p, err := s.rehab.Progress(r.Context(), principalOf(r), r.PathValue("id"), rng)
	if err != nil {
		s.rehabAPIError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, p)
}

func (s *Server) apiRehabProgramme(w http.ResponseWriter, r *http.Request) {
	if !s.rehabReady(w, r) {
		return
	}
	p, err := s.rehab.Programme(r.Context(), principalOf(r), r.PathValue("id"))
	if err != nil {
		s.rehabAPIError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, p)
}

func (s *Server) apiRehabSetProgramme(w http.ResponseWriter, r *http.Request) {
	if !s.rehabReady(w, r) {
		return
	}
	var in rehab.ProgrammeInput
	if !DecodeJSON(w, r, &in) {
		return
	}
	p, err := s.rehab.SetProgramme(r.Context(), principalOf(r), r.PathValue("id"), in)
	if err != nil {
		s.rehabAPIError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, p)
}

// rehabPage is what the rehabilitation template shows.
type rehabPage struct {
	PatientID  string
	Self       bool // the patient's own portal page
	Range      rehab.Range
	RangeLabel string
	Ranges     []rangeOption
	Grain      string
	CSVURL     string
	Programme  *rehab.Programme
	Sessions   []sessionRow
	Charts     []chartView
	Rows       []progressRow
	Activity   []activityRow
	Calibs     []calibrationRow
	Counts     string
	Invite     inviteForm
	Plan       programmeForm // the therapist's programme form (rehab_programme.go)
}

type rangeOption struct {
	Value, Label string
	Selected     bool
}

type chartView struct {
	ID, Heading string
	SVG         template.HTML
}

type sessionRow struct {
	Start, Duration, Device, Score, GameTime, Exercises string
}

type progressRow struct {
	Period, Type, Side, Count, Performance, Duration, Level string
}

type activityRow struct {
	Period, Sessions, Score, GameTime string
}

type calibrationRow struct {
	MeasuredAt, Device, Values string
}

type inviteForm struct {
	Email, Error string
}

func (s *Server) pageRehab(w http.ResponseWriter, r *http.Request) {
	flash := ""
	if r.URL.Query().Get("invited") == "1" {
		flash = "The invitation to the patient portal was sent."
	}
	if r.URL.Query().Get("planned") == "1" {
		flash = "The programme was saved. The patient sees it in their portal."
	}
	s.showRehab(w, r, r.PathValue("id"), false, inviteForm{}, flash)
}

// pageMyProgress is the patient portal's progress page: the same view, for
// the patient the signed-in user is (or represents).
func (s *Server) pageMyProgress(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if p == nil || p.PatientID == "" || (p.Role != access.RolePatient && p.Role != access.RoleRepresentative) {
		s.renderError(w, r, http.StatusNotFound, "This page is for patients following their rehabilitation. Sign in with the account your therapist invited you to.")
		return
	}
	s.showRehab(w, r, p.PatientID, true, inviteForm{}, "")
}

func (s *Server) showRehab(w http.ResponseWriter, r *http.Request, patientID string, self bool, inv inviteForm, flash string) {
	s.showRehabWith(w, r, patientID, self, inv, nil, flash)
}

// showRehabWith is showRehab with a programme form to show again (its
// values and errors) instead of the one built from the programme in force.
func (s *Server) showRehabWith(w http.ResponseWriter, r *http.Request, patientID string, self bool, inv inviteForm, plan *programmeForm, flash string) {
	if !s.rehabReady(w, r) {
		return
	}
	rng, ok := rehab.ParseRange(r.URL.Query().Get("range"))
	if !ok {
		rng = rehab.Range90Days
	}
	ov, err := s.rehab.Overview(r.Context(), principalOf(r), patientID, rng, 10)
	if err != nil {
		status, msg := s.rehabStatus(r, err)
		s.renderError(w, r, status, msg)
		return
	}
	pg := buildRehabPage(ov, patientID, self, rng)
	pg.Invite = inv
	if plan != nil {
		pg.Plan = *plan
	} else {
		pg.Plan = programmeFormOf(ov.Programme)
	}
	title := s.patientTitle(r, "Rehabilitation", "Rehabilitation: %s", patientID)
	if self {
		title = "My progress"
	}
	status := http.StatusOK
	if inv.Error != "" || pg.Plan.Error != "" {
		status = http.StatusUnprocessableEntity
	}
	s.renderView(w, r, status, "rehab", View{Title: title, Data: pg, Flash: flash})
}

func buildRehabPage(ov *rehab.Overview, patientID string, self bool, rng rehab.Range) *rehabPage {
	pg := &rehabPage{PatientID: patientID, Self: self, Range: rng, RangeLabel: rng.Label(), Programme: ov.Programme}
	if self {
		pg.CSVURL = "/my/progress.csv?range=" + string(rng)
	} else {
		pg.CSVURL = "/patients/" + patientID + "/rehab/progress.csv?range=" + string(rng)
	}
	for _, o := range rehab.Ranges {
		pg.Ranges = append(pg.Ranges, rangeOption{Value: string(o), Label: o.Label(), Selected: o == rng})
	}
	for _, x := range ov.Recent {
		types := make([]string, 0, len(x.Exercises))
		for _, e := range x.Exercises {
			types = append(types, rehab.ExerciseLabel(e.Type)+" ("+strings.ToLower(rehab.SideLabel(e.Side))+", level "+strconv.Itoa(e.Level)+")")
		}
		pg.Sessions = append(pg.Sessions, sessionRow{
			Start: x.Start.Format("2 Jan 2006 15:04"), Duration: minutes(x.End.Sub(x.Start).Seconds()),
			Device: x.DeviceID, Score: num(x.ActivityScore), GameTime: minutes(x.GameTimeSeconds),
			Exercises: strings.Join(types, "; "),
		})
	}
	for _, c := range ov.Calibrations {
		vals := make([]string, 0, len(c.Values))
		for _, v := range c.Values {
			vals = append(vals, v.Name+" "+num(v.Value))
		}
		pg.Calibs = append(pg.Calibs, calibrationRow{MeasuredAt: c.MeasuredAt.Format("2 Jan 2006 15:04"), Device: c.DeviceID, Values: strings.Join(vals, ", ")})
	}
	p := ov.Progress
	pg.Grain = string(p.Grain)
	pg.Counts = fmt.Sprintf("%d sessions and %d exercises, shown per %s.", p.Sessions, p.Exercises, p.Grain)
	perf := &chart.Line{ID: "chart-performance", Title: "Performance by exercise and side",
		Desc: fmt.Sprintf("Mean performance (0 to 100) per %s for each exercise type and side, %s.", p.Grain, strings.ToLower(rng.Label())), YLabel: "Performance (0–100)", FromZero: true}
	dur := &chart.Line{ID: "chart-duration", Title: "Duration by exercise and side",
		Desc: fmt.Sprintf("Mean minutes per exercise per %s for each exercise type and side.", p.Grain), YLabel: "Minutes per exercise", FromZero: true}
	lvl := &chart.Line{ID: "chart-level", Title: "Level by exercise and side",
		Desc: fmt.Sprintf("Highest level reached per %s for each exercise type and side.", p.Grain), YLabel: "Level", FromZero: true}
	for _, sr := range p.Series {
		name := rehab.ExerciseLabel(sr.Type) + " · " + strings.ToLower(rehab.SideLabel(sr.Side))
		ps, ds, ls := chart.Series{Name: name}, chart.Series{Name: name}, chart.Series{Name: name}
		for _, pt := range sr.Points {
			period := periodLabel(p.Grain, pt.Start)
			ps.Points = append(ps.Points, chart.Point{X: pt.Start, Y: pt.Performance, Label: name + ", " + period + ": performance " + num(pt.Performance)})
			ds.Points = append(ds.Points, chart.Point{X: pt.Start, Y: pt.DurationSeconds / 60, Label: name + ", " + period + ": " + minutes(pt.DurationSeconds) + " min"})
			ls.Points = append(ls.Points, chart.Point{X: pt.Start, Y: float64(pt.Level), Label: name + ", " + period + ": level " + strconv.Itoa(pt.Level)})
			pg.Rows = append(pg.Rows, progressRow{Period: period, Type: rehab.ExerciseLabel(sr.Type), Side: rehab.SideLabel(sr.Side), Count: strconv.Itoa(pt.Count),
				Performance: num(pt.Performance), Duration: minutes(pt.DurationSeconds), Level: strconv.Itoa(pt.Level)})
		}
		perf.Series, dur.Series, lvl.Series = append(perf.Series, ps), append(dur.Series, ds), append(lvl.Series, ls)
	}
	act := &chart.Line{ID: "chart-activity", Title: "Session activity score",
		Desc: fmt.Sprintf("Mean activity score of the sessions per %s.", p.Grain), YLabel: "Activity score (0–100)", FromZero: true}
	as := chart.Series{Name: "Sessions"}
	for _, a := range p.Activity {
		period := periodLabel(p.Grain, a.Start)
		as.Points = append(as.Points, chart.Point{X: a.Start, Y: a.ActivityScore, Label: period + ": activity score " + num(a.ActivityScore) + ", " + strconv.Itoa(a.Sessions) + " sessions"})
		pg.Activity = append(pg.Activity, activityRow{Period: period, Sessions: strconv.Itoa(a.Sessions), Score: num(a.ActivityScore), GameTime: minutes(a.GameTimeSeconds)})
	}
	if len(as.Points) > 0 {
		act.Series = []chart.Series{as}
	}
	for _, c := range []*chart.Line{perf, dur, lvl, act} {
		pg.Charts = append(pg.Charts, chartView{ID: c.ID, Heading: c.Title, SVG: c.SVG()})
	}
	return pg
}

func periodLabel(g rehab.Grain, t time.Time) string {
	switch g {
	case rehab.Week:
		return "Week of " + t.Format("2 Jan 2006")
	case rehab.Month:
		return t.Format("January 2006")
	}
	return t.Format("2 Jan 2006")
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func minutes(seconds float64) string { return strconv.FormatFloat(seconds/60, 'f', 1, 64) }

func (s *Server) postRehabInvite(w http.ResponseWriter, r *http.Request) {
	if !s.rehabReady(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	email := strings.TrimSpace(r.PostFormValue("email"))
	err := s.rehab.InviteToPortal(r.Context(), principalOf(r), r.PathValue("id"), email)
	var ve *rehab.ValidationError
	switch {
	case err == nil:
		http.Redirect(w, r, "/patients/"+r.PathValue("id")+"/rehab?invited=1", http.StatusSeeOther)
	case errors.As(err, &ve):
		s.showRehab(w, r, r.PathValue("id"), false, inviteForm{Email: email, Error: "Enter an email address, like name@example.org."}, "")
	case errors.Is(err, rehab.ErrPortalMinor):
		s.showRehab(w, r, r.PathValue("id"), false, inviteForm{Email: email, Error: "This patient is under 18: their parent or guardian gets portal access instead. Add them as a representative on the patient page and invite them from there."}, "")
	case errors.Is(err, rehab.ErrNoPortal):
		s.showRehab(w, r, r.PathValue("id"), false, inviteForm{Email: email, Error: "Portal invitations are not available on this server yet; nothing was sent."}, "")
	default:
		status, msg := s.rehabStatus(r, err)
		s.renderError(w, r, status, msg)
	}
}

func (s *Server) csvRehab(w http.ResponseWriter, r *http.Request) {
	s.writeRehabCSV(w, r, r.PathValue("id"))
}

func (s *Server) csvMyProgress(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if p == nil || p.PatientID == "" {
		s.renderError(w, r, http.StatusNotFound, "This export is for patients following their rehabilitation.")
		return
	}
	s.writeRehabCSV(w, r, p.PatientID)
}

// writeRehabCSV exports the progress table, one row per period, exercise
// type and side.
func (s *Server) writeRehabCSV(w http.ResponseWriter, r *http.Request, patientID string) {
	if !s.rehabReady(w, r) {
		return
	}
	rng, ok := rehab.ParseRange(r.URL.Query().Get("range"))
	if !ok {
		s.renderError(w, r, http.StatusBadRequest, "Unknown range: choose one of the periods offered on the progress page.")
		return
	}
	p, err := s.rehab.Progress(r.Context(), principalOf(r), patientID, rng)
	if err != nil {
		status, msg := s.rehabStatus(r, err)
		s.renderError(w, r, status, msg)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="rehab-progress.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"period_start", "period", "exercise_type", "side", "exercises", "mean_performance", "mean_duration_seconds", "highest_level"})
	for _, sr := range p.Series {
		for _, pt := range sr.Points {
			_ = cw.Write([]string{pt.Start.Format("2006-01-02"), string(p.Grain), cell(sr.Type), string(sr.Side), strconv.Itoa(pt.Count),
				num(pt.Performance), num(pt.DurationSeconds), strconv.Itoa(pt.Level)})
		}
	}
	cw.Flush()
}
