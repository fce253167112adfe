package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestFrontDeskRegistersAPatientForTheDemoClinician: the demo's front desk
// registers a patient on the page, for the clinician by email; the
// clinician opens the full record, the front desk opens no case.
func TestFrontDeskRegistersAPatientForTheDemoClinician(t *testing.T) {
	_, ts := newDemoApp(t)
	desk := signIn(t, ts, "staff@demo.custodia.example")
	form := url.Values{"treating": {"clinician@demo.custodia.example"}, "given_name": {"Nora"}, "family_name": {"Front"},
		"birth_date": {"1985-03-04"}, "email": {"nora@example.org"}}
	req, _ := http.NewRequest("POST", ts.URL+"/patients", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ts.URL)
	res, err := desk.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/patients/") {
		t.Fatalf("register: %d to %q", res.StatusCode, loc)
	}
	id := strings.TrimPrefix(loc, "/patients/")
	doc := signIn(t, ts, "clinician@demo.custodia.example")
	res, err = doc.Get(ts.URL + "/api/v1/patients/" + id)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("the clinician the patient was registered for reads it: %d", res.StatusCode)
	}
	res, err = desk.Get(ts.URL + "/api/v1/patients/" + id + "/cases")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 && res.StatusCode != 403 {
		t.Fatalf("the front desk listed the cases: %d", res.StatusCode)
	}
}
