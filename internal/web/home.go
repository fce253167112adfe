package web

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/patient"
)

// The landing page ("/") is the signed-in person's work: a clinician's
// patients, recent cases and new uploads and comments; a privacy officer's
// review queues; a patient's record, what is shared with them and their
// consents; an admin's members and settings. Every name and title on it is
// read through the records services, under the policy and audited, as the
// patients list reads them. Someone not signed in gets the welcome page.

func init() {
	// roleName words a role for a person to read.
	funcs["roleName"] = func(r access.Role) string {
		switch r {
		case access.RoleAdmin:
			return "Admin"
		case access.RoleClinician:
			return "Clinician"
		case access.RolePrivacyOfficer:
			return "Privacy officer"
		case access.RoleStaff:
			return "Front desk staff"
		case access.RolePatient:
			return "Patient"
		case access.RoleRepresentative:
			return "Personal representative"
		}
		return string(r)
	}
	// navAt marks the navigation item of the section a page belongs to.
	funcs["navAt"] = func(path, prefix string) bool { return strings.HasPrefix(path, prefix) }
}

// Landing sizes: enough to pick up work, short enough to read at a glance.
const (
	landingPatients = 8
	landingCases    = 8
	landingRecent   = 14 * 24 * time.Hour
)

type landingPage struct {
	Kind      string // "welcome", "clinician", "officer", "patient", "admin", "staff", "none"
	Clinician *clinicianLanding
	Officer   *officerLanding
	Patient   *patientLanding
	Admin     *adminLanding
}

type landingCase struct {
	ID, Title, Date, Status, PatientID, PatientName, Updated string
	Comments                                                 int
}

type landingActivityItem struct {
	At                 time.Time
	When, Who, What    string
	CaseID, CaseTitle  string
	PatientName, Where string
	Kind               string // of an uploaded file
	Files              int    // uploads merged into this line
}

type clinicianLanding struct {
	Patients     []patient.Listed
	MorePatients bool
	Cases        []landingCase
	Activity     []landingActivityItem
	CanRehab     bool
}

type officerReview struct {
	ID, Clinician, PatientName, Reason, Opened, Due string
	Overdue                                         bool
	dueAt                                           time.Time
}

type officerLanding struct {
	Pending  []officerReview
	Overdue  int
	Reviewed int
}

type patientLanding struct {
	Name         string
	BirthDate    string
	PatientID    string
	Cases        []casefile.Listed
	ConsentsOK   bool
	ConsentGiven int // purposes with express consent given, for either kind of information
	ConsentOpen  int // purposes still undecided or to decide again
	Minor        bool
	Rehab        bool
}

type adminLanding struct {
	Workspace   string
	MFARequired bool
	Members     int
	ByRole      []roleCount
	NoTwoStep   int
}

type roleCount struct {
	Role  string
	Count int
}

// hasRole reports whether p holds role r in the workspace. Roles are one
// per membership today; a set of roles will change only this function.
func hasRole(p *access.Principal, r access.Role) bool { return p.Has(r) }

// landing renders "/" for whoever asks.
func (s *Server) landing(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if p == nil {
		releasesNoPHI(r)
		s.render(w, r, http.StatusOK, "home", landingPage{Kind: "welcome"})
		return
	}
	ctx := r.Context()
	pg := landingPage{Kind: "none"}
	title := "Home"
	var err error
	switch {
	case s.records == nil:
		// A server without the records services (shell tests) has no
		// patient work to show; an admin still runs the practice.
		releasesNoPHI(r)
		if hasRole(p, access.RoleAdmin) {
			pg.Kind, title = "admin", "Practice administration"
			pg.Admin = s.adminLanding(ctx, p)
		}
	case hasRole(p, access.RoleClinician):
		pg.Kind, title = "clinician", "My work"
		pg.Clinician, err = s.clinicianLanding(ctx, p)
		if hasRole(p, access.RoleAdmin) {
			// A solo practice's doctor runs it too: the admin's work
			// follows the clinician's on the same page.
			pg.Admin = s.adminLanding(ctx, p)
		}
	case hasRole(p, access.RolePrivacyOfficer):
		pg.Kind, title = "officer", "Privacy reviews"
		pg.Officer, err = s.officerLanding(ctx, p)
	case hasRole(p, access.RolePatient), hasRole(p, access.RoleRepresentative):
		pg.Kind, title = "patient", "My health record"
		pg.Patient, err = s.patientLanding(ctx, p)
	case hasRole(p, access.RoleAdmin):
		pg.Kind, title = "admin", "Practice administration"
		releasesNoPHI(r) // member names are staff, not patients
		pg.Admin = s.adminLanding(ctx, p)
	case hasRole(p, access.RoleStaff):
		pg.Kind = "staff"
		releasesNoPHI(r)
	default:
		releasesNoPHI(r)
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderView(w, r, http.StatusOK, "home", View{Title: title, Data: pg})
}

func (s *Server) clinicianLanding(ctx context.Context, p *access.Principal) (*clinicianLanding, error) {
	out := &clinicianLanding{CanRehab: s.rehab != nil}
	pg, err := s.records.Patients.List(ctx, p, "")
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, x := range pg.Patients {
		names[x.ID] = x.Summary.Name()
	}
	out.Patients = pg.Patients
	if len(out.Patients) > landingPatients {
		out.Patients, out.MorePatients = out.Patients[:landingPatients], true
	}
	out.MorePatients = out.MorePatients || pg.Next != ""
	recent, err := s.records.Cases.Recent(ctx, p, landingCases)
	if err != nil {
		return nil, err
	}
	for _, c := range recent {
		name, ok := names[c.PatientID]
		if !ok {
			// A patient older than the first page: read their summary,
			// audited like any other.
			if x, err := s.records.Patients.GetSummary(ctx, p, c.PatientID); err == nil {
				name = x.Summary.Name()
				names[c.PatientID] = name
			} else if !errors.Is(err, patient.ErrForbidden) && !errors.Is(err, patient.ErrNotFound) {
				return nil, err
			}
		}
		out.Cases = append(out.Cases, landingCase{ID: c.ID, Title: c.Title, Date: c.Date, Status: c.Status, PatientID: c.PatientID,
			PatientName: name, Updated: landingDay(c.UpdatedAt), Comments: c.Comments})
		if !c.LastCommentAt.IsZero() && time.Since(c.LastCommentAt) < landingRecent {
			out.Activity = append(out.Activity, landingActivityItem{At: c.LastCommentAt, When: landingDay(c.LastCommentAt),
				Who: s.who(p, c.LastCommentBy), What: "commented on", CaseID: c.ID, CaseTitle: c.Title, PatientName: name})
		}
	}
	if s.media != nil {
		// One audited file.list per recent case shown: file rows hold no PHI.
		for _, c := range recent {
			fs, err := s.media.CaseFiles(ctx, p, c.ID)
			if err != nil {
				continue // the case page says why; the landing page shows what it can
			}
			for _, f := range fs {
				if time.Since(f.CreatedAt) < landingRecent {
					out.Activity = append(out.Activity, landingActivityItem{At: f.CreatedAt, When: landingDay(f.CreatedAt),
						Who: s.who(p, f.UploaderID), What: "uploaded", Kind: kindLabel(f.Kind), CaseID: c.ID, CaseTitle: c.Title,
						PatientName: names[c.PatientID]})
				}
			}
		}
	}
	sort.SliceStable(out.Activity, func(i, j int) bool { return out.Activity[i].At.After(out.Activity[j].At) })
	// Uploads of a series come in dozens: one line per person, case and day.
	out.Activity = collapseActivity(out.Activity)
	if len(out.Activity) > 10 {
		out.Activity = out.Activity[:10]
	}
	return out, nil
}

// collapseActivity merges consecutive uploads of one person, kind of file,
// case and day into one line that says how many ("uploaded 8 DICOM
// images to"), and words each line.
func collapseActivity(in []landingActivityItem) []landingActivityItem {
	var out []landingActivityItem
	for _, it := range in {
		it.Files = 1
		if k := len(out) - 1; k >= 0 && it.Kind != "" && out[k].Who == it.Who && out[k].CaseID == it.CaseID && out[k].When == it.When && out[k].Kind == it.Kind {
			out[k].Files++
			continue
		}
		out = append(out, it)
	}
	for i := range out {
		if out[i].Kind != "" {
			out[i].What = "uploaded " + countedKind(out[i].Kind, out[i].Files) + " to"
		}
	}
	return out
}

// countedKind words n files of a kind: "a DICOM image", "8 DICOM images".
func countedKind(kind string, n int) string {
	if kind == "" {
		kind = "file"
	}
	if n == 1 {
		// "an" before a vowel sound: a vowel, or an initialism read as
		// letters whose name starts with one ("an STL model").
		first, _, _ := strings.Cut(kind, " ")
		vowel := strings.ContainsRune("aeiouAEIOU", rune(kind[0]))
		if len(first) > 1 && strings.ToUpper(first) == first {
			vowel = strings.ContainsRune("AEFHILMNORSX", rune(kind[0]))
		}
		if vowel {
			return "an " + kind
		}
		return "a " + kind
	}
	return itoa(n) + " " + kind + "s"
}

// who names a user for the viewer: "You" for themselves.
func (s *Server) who(p *access.Principal, userID string) string {
	if p != nil && userID == p.UserID {
		return "You"
	}
	return s.person(userID)
}

func (s *Server) officerLanding(ctx context.Context, p *access.Principal) (*officerLanding, error) {
	rs, err := s.records.Patients.Reviews(ctx, p)
	if err != nil {
		return nil, err
	}
	out := &officerLanding{}
	now := time.Now()
	names := map[string]string{}
	for _, v := range rs {
		if v.Status != "pending" {
			out.Reviewed++
			continue
		}
		name, ok := names[v.PatientID]
		if !ok {
			if x, err := s.records.Patients.GetSummary(ctx, p, v.PatientID); err == nil {
				name = x.Summary.Name()
			}
			names[v.PatientID] = name
		}
		o := officerReview{ID: v.ID, Clinician: s.person(v.UserID), PatientName: name, Reason: glassReasonWords(v.ReasonCode),
			Opened: landingDay(v.CreatedAt), Due: landingDay(v.DueAt()), Overdue: v.Overdue(now), dueAt: v.DueAt()}
		if o.Overdue {
			out.Overdue++
		}
		out.Pending = append(out.Pending, o)
	}
	// Oldest due first: that is the order to work in.
	sort.SliceStable(out.Pending, func(i, j int) bool { return out.Pending[i].dueAt.Before(out.Pending[j].dueAt) })
	return out, nil
}

// glassReasonWords words a break-glass reason code ("urgent_consultation":
// "Urgent consultation").
func glassReasonWords(code string) string {
	if code == "" {
		return "No reason given"
	}
	b := []byte(code)
	for i := range b {
		if b[i] == '_' {
			b[i] = ' '
		}
	}
	if b[0] >= 'a' && b[0] <= 'z' {
		b[0] -= 'a' - 'A'
	}
	return string(b)
}

func (s *Server) patientLanding(ctx context.Context, p *access.Principal) (*patientLanding, error) {
	if p.PatientID == "" {
		return &patientLanding{}, nil
	}
	x, err := s.records.Patients.Get(ctx, p, p.PatientID)
	if err != nil {
		return nil, err
	}
	out := &patientLanding{Name: x.Summary.Name(), BirthDate: x.Summary.BirthDate, PatientID: p.PatientID, Rehab: s.rehab != nil}
	if out.Cases, err = s.records.Cases.List(ctx, p, p.PatientID); err != nil {
		return nil, err
	}
	if s.consent != nil {
		o, err := s.consent.Overview(ctx, p, p.PatientID)
		if err == nil {
			out.ConsentsOK, out.Minor = true, o.Minor
			for _, pu := range o.Purposes {
				given, open := false, false
				for _, sd := range pu.Standings {
					if !sd.Required {
						continue
					}
					if sd.Allowed {
						given = true
					} else if sd.Reason != consent.ReasonWithdrawn {
						open = true
					}
				}
				if given {
					out.ConsentGiven++
				} else if open {
					out.ConsentOpen++
				}
			}
		}
	}
	return out, nil
}

func (s *Server) adminLanding(ctx context.Context, p *access.Principal) *adminLanding {
	out := &adminLanding{}
	if s.identity == nil {
		return out
	}
	if ws, err := s.identity.Workspaces(ctx, p.UserID); err == nil {
		for _, x := range ws {
			if x.ID == p.WorkspaceID {
				out.Workspace, out.MFARequired = x.Name, x.MFARequired
			}
		}
	}
	ms, err := s.identity.Members(ctx, p, p.WorkspaceID)
	if err != nil {
		return out
	}
	counts := map[access.Role]int{}
	for _, m := range ms {
		counts[m.Role]++
		if !m.MFAEnabled {
			out.NoTwoStep++
		}
	}
	out.Members = len(ms)
	for _, r := range []access.Role{access.RoleAdmin, access.RoleClinician, access.RolePrivacyOfficer, access.RoleStaff} {
		if counts[r] > 0 {
			out.ByRole = append(out.ByRole, roleCount{Role: roleWords(r, counts[r]), Count: counts[r]})
		}
	}
	return out
}

// roleWords words a count of members of a role: "1 clinician", "2 admins".
func roleWords(r access.Role, n int) string {
	one, many := string(r), string(r)+"s"
	switch r {
	case access.RoleAdmin:
		one, many = "admin", "admins"
	case access.RoleClinician:
		one, many = "clinician", "clinicians"
	case access.RolePrivacyOfficer:
		one, many = "privacy officer", "privacy officers"
	case access.RoleStaff:
		one, many = "front desk staff member", "front desk staff"
	}
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}

// landingDay is the one date format of the landing page.
func landingDay(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006")
}
