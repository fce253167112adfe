package web

import (
	"net/http"
	"strings"
)

// patientTitle is a page title naming the patient a member is working on
// ("Consents of Anna Rossi"), so headings show the person, not a record
// id. The name is a summary read the patient service decides and audits.
// The patient's own view, and a name the viewer may not read, keep the
// plain title.
func (s *Server) patientTitle(r *http.Request, plain, named, patientID string) string {
	p := principal(r)
	if p == nil || patientID == "" || p.PatientID == patientID || s.records == nil || s.records.Patients == nil {
		return plain
	}
	pt, err := s.records.Patients.GetSummary(r.Context(), p, patientID)
	if err != nil {
		return plain
	}
	name := strings.TrimSpace(pt.Summary.GivenName + " " + pt.Summary.FamilyName)
	if name == "" {
		return plain
	}
	return strings.Replace(named, "%s", name, 1)
}
