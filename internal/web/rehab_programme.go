package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/custodia-health/custodia/internal/rehab"
)

// The therapist's programme form on the rehabilitation page: a name, notes
// and up to programmeRows planned exercises, each picked from the named
// exercise types. Saving enrols the patient, or makes a new version of the
// programme in force (rehab.SetProgramme decides and audits).

func init() {
	funcs["exerciseLabel"] = rehab.ExerciseLabel
	funcs["sideLabel"] = func(s rehab.Side) string { return rehab.SideLabel(s) }
}

// programmeRows is the most exercise rows the form takes; it shows the
// programme's own plus programmeSpare empty ones (at least programmeMin).
const (
	programmeRows  = 20
	programmeSpare = 2
	programmeMin   = 4
)

type programmeRow struct {
	Type, Side, Level, Frequency string
	Errors                       map[string]string // type, side, level, frequency
}

type programmeForm struct {
	Exists  bool // a programme is in force: the form changes it
	Version int
	Name    string
	Notes   string
	Rows    []programmeRow
	Errors  map[string]string // name, notes, exercises
	Error   string            // the message at the top of the form
	Types   []rehab.ExerciseType
	Sides   []sideOption
}

type sideOption struct{ Value, Label string }

func newProgrammeForm() programmeForm {
	f := programmeForm{Types: rehab.ExerciseTypes}
	for _, s := range []rehab.Side{rehab.Both, rehab.Left, rehab.Right} {
		f.Sides = append(f.Sides, sideOption{Value: string(s), Label: rehab.SideLabel(s)})
	}
	return f
}

// programmeFormOf fills the form from the programme in force (nil: none).
func programmeFormOf(p *rehab.Programme) programmeForm {
	f := newProgrammeForm()
	if p != nil {
		f.Exists, f.Version, f.Name, f.Notes = true, p.Version, p.Name, p.Notes
		for _, e := range p.Exercises {
			f.Rows = append(f.Rows, programmeRow{Type: e.Type, Side: string(e.Side), Level: strconv.Itoa(e.Level), Frequency: strconv.Itoa(e.FrequencyPerWeek)})
		}
	}
	f.pad()
	return f
}

// pad adds empty rows up to programmeRows, and keeps a device's own code
// (not in the named list) selectable in the rows that hold it.
func (f *programmeForm) pad() {
	want := min(max(len(f.Rows)+programmeSpare, programmeMin), programmeRows)
	for len(f.Rows) < want {
		f.Rows = append(f.Rows, programmeRow{Side: string(rehab.Both), Level: "1", Frequency: "3"})
	}
	known := map[string]bool{}
	for _, t := range f.Types {
		known[t.Code] = true
	}
	for _, r := range f.Rows {
		if r.Type != "" && !known[r.Type] {
			f.Types = append(f.Types, rehab.ExerciseType{Code: r.Type, Label: rehab.ExerciseLabel(r.Type)})
			known[r.Type] = true
		}
	}
}

// programmeFromForm reads the posted form. Rows with no exercise chosen are
// left out; a number that is not one is a field error of its own.
func programmeFromForm(r *http.Request) (rehab.ProgrammeInput, programmeForm, bool) {
	f := newProgrammeForm()
	f.Name, f.Notes = strings.TrimSpace(r.PostForm.Get("name")), strings.TrimSpace(r.PostForm.Get("notes"))
	f.Exists = r.PostForm.Get("exists") == "1"
	in := rehab.ProgrammeInput{Name: f.Name, Notes: f.Notes}
	types, sides, levels, freqs := r.PostForm["type"], r.PostForm["side"], r.PostForm["level"], r.PostForm["frequency"]
	ok := true
	at := func(v []string, i int) string {
		if i < len(v) {
			return strings.TrimSpace(v[i])
		}
		return ""
	}
	for i := range min(len(types), programmeRows) {
		row := programmeRow{Type: at(types, i), Side: at(sides, i), Level: at(levels, i), Frequency: at(freqs, i)}
		if row.Type == "" {
			continue
		}
		e := rehab.PlannedExercise{Type: row.Type, Side: rehab.Side(row.Side)}
		var err error
		if e.Level, err = strconv.Atoi(row.Level); err != nil {
			row.Errors, ok = map[string]string{"level": "must be a whole number from 1 to 100"}, false
		}
		if e.FrequencyPerWeek, err = strconv.Atoi(row.Frequency); err != nil {
			if row.Errors == nil {
				row.Errors = map[string]string{}
			}
			row.Errors["frequency"], ok = "must be a whole number of times a week, 1 to 50", false
		}
		in.Exercises = append(in.Exercises, e)
		f.Rows = append(f.Rows, row)
	}
	if !ok {
		f.Error = "The programme was not saved. Correct the fields marked below."
	}
	return in, f, ok
}

// programmeFieldErrors puts the service's field errors ("exercises[2].level")
// beside the fields they name.
func (f *programmeForm) programmeFieldErrors(fields map[string]string) {
	f.Errors = map[string]string{}
	for k, msg := range fields {
		i, field, isRow := strings.Cut(strings.TrimPrefix(k, "exercises["), "].")
		if !strings.HasPrefix(k, "exercises[") || !isRow {
			f.Errors[k] = msg
			continue
		}
		n, err := strconv.Atoi(i)
		if err != nil || n < 0 || n >= len(f.Rows) {
			f.Errors["exercises"] = msg
			continue
		}
		if field == "frequency_per_week" {
			field = "frequency"
		}
		if f.Rows[n].Errors == nil {
			f.Rows[n].Errors = map[string]string{}
		}
		f.Rows[n].Errors[field] = msg
	}
	if f.Errors["exercises"] != "" {
		f.Errors["exercises"] = strings.Replace(f.Errors["exercises"], "must plan at least one exercise", "Choose at least one exercise.", 1)
	}
}

func (s *Server) postRehabProgramme(w http.ResponseWriter, r *http.Request) {
	if !s.rehabReady(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read. Go back and try again.")
		return
	}
	id := r.PathValue("id")
	in, form, ok := programmeFromForm(r)
	if !ok {
		form.pad()
		s.showRehabWith(w, r, id, false, inviteForm{}, &form, "")
		return
	}
	_, err := s.rehab.SetProgramme(r.Context(), principalOf(r), id, in)
	var ve *rehab.ValidationError
	switch {
	case err == nil:
		http.Redirect(w, r, "/patients/"+id+"/rehab?planned=1#programme-h", http.StatusSeeOther)
	case errors.As(err, &ve):
		form.programmeFieldErrors(ve.Fields)
		form.Error = "The programme was not saved. Correct the fields marked below."
		form.pad()
		s.showRehabWith(w, r, id, false, inviteForm{}, &form, "")
	default:
		status, msg := s.rehabStatus(r, err)
		if status == http.StatusForbidden {
			msg = "Only a clinician on this patient's care team may plan their rehabilitation. Ask to be added to the care team on the patient's page."
		}
		s.renderError(w, r, status, msg)
	}
}
