package patient

import (
	"context"

	"github.com/custodia-health/custodia/internal/access"
)

// Standing is the policy facts about one principal and one patient (care
// team, break-glass, collaboration) as loaded for one request. Only this
// package makes one, so a service handed a Standing knows it was read from
// the database for that principal, and need not load the patient again.
type Standing struct {
	user string
	res  access.Resource
}

// Resource is the patient as the access policy sees it.
func (st Standing) Resource() access.Resource { return st.res }

// For reports whether st was loaded for p (and loaded at all).
func (st Standing) For(p *access.Principal) bool {
	user := ""
	if p != nil {
		user = p.UserID
	}
	return st.res.PatientID != "" && st.user == user
}

// Record is what the patient page shows, read with one load of the patient
// row.
type Record struct {
	Patient  *Patient
	CareTeam []Member // nil when Patient.Limited
	Standing Standing // for the services that read the rest (the case list)
}

// ViewRecord reads the patient as View does (patient.read, or
// patient.read_summary for someone who may only see the summary) and, when
// the full record is shown, the care team as CareTeam does (careteam.read):
// two audited reads, two entries, but one load of the patient row.
func (s *Service) ViewRecord(ctx context.Context, p *access.Principal, id string) (*Record, error) {
	pt, r, err := s.view(ctx, p, id)
	if err != nil {
		return nil, err
	}
	res := r.resource()
	rec := &Record{Patient: pt, Standing: Standing{user: userOf(p), res: res}}
	if pt.Limited {
		return rec, nil
	}
	if _, _, err := s.gate.Pass(ctx, p, patientCheck(access.PatientRead, "careteam.read", r)); err != nil {
		return nil, err
	}
	if rec.CareTeam, err = s.careTeam(ctx, r.id); err != nil {
		return nil, err
	}
	return rec, nil
}

func userOf(p *access.Principal) string {
	if p == nil {
		return ""
	}
	return p.UserID
}
