package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func postPlan(t *testing.T, base string, v url.Values) (*http.Response, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(base+"/patients/"+rPatient+"/rehab/programme", v)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestTherapistPlansAndChangesAProgrammeOnThePage: the rehabilitation page
// enrols the patient and changes the programme without the API, shows the
// exercises by name, keeps bad input beside its field, and refuses someone
// who may not plan.
func TestTherapistPlansAndChangesAProgrammeOnThePage(t *testing.T) {
	e := newRehabEnv(t, nil)
	th := e.as(t, rTherapist).URL
	_, page := get(t, th+"/patients/"+rPatient+"/rehab")
	if !strings.Contains(string(page), "Plan a programme") || !strings.Contains(string(page), `<option value="finger_tapping">Finger tapping</option>`) {
		t.Fatal("the page offers no programme form")
	}
	res, _ := postPlan(t, th, url.Values{"name": {"Wrist recovery"}, "notes": {"Slowly at first."},
		"type": {"wrist_flexion", "", "finger_tapping"}, "side": {"left", "both", "both"}, "level": {"2", "1", "3"}, "frequency": {"5", "3", "2"}})
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "planned=1") {
		t.Fatalf("plan: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	_, page = get(t, th+"/patients/"+rPatient+"/rehab?planned=1")
	for _, want := range []string{"The programme was saved", `id="programme-name">Wrist recovery<`, "version 1", "<td>Wrist flexion</td><td>Left</td><td>2</td><td>5</td>",
		"<td>Finger tapping</td><td>Both sides</td><td>3</td><td>2</td>", "Change the programme"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("after planning, the page lacks %q", want)
		}
	}
	// Changing it makes version 2; the patient sees the new one.
	res, _ = postPlan(t, th, url.Values{"name": {"Wrist recovery, week 3"}, "exists": {"1"}, "type": {"wrist_extension"}, "side": {"right"}, "level": {"4"}, "frequency": {"4"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d", res.StatusCode)
	}
	_, page = get(t, e.as(t, rSelf).URL+"/my/progress")
	if !strings.Contains(string(page), "Wrist recovery, week 3") || !strings.Contains(string(page), "version 2") || !strings.Contains(string(page), "Wrist extension") {
		t.Fatal("the patient does not see the changed programme")
	}
	// Bad input: 422, the message beside the field, nothing stored.
	res, body := postPlan(t, th, url.Values{"name": {"Broken"}, "type": {"wrist_flexion"}, "side": {"left"}, "level": {"200"}, "frequency": {"x"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "The programme was not saved") ||
		!strings.Contains(body, "must be a whole number of times a week") || !strings.Contains(body, `value="Broken"`) {
		t.Fatalf("bad input: %d", res.StatusCode)
	}
	res, body = postPlan(t, th, url.Values{"name": {"Nothing"}, "type": {""}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Choose at least one exercise") {
		t.Fatalf("no exercises: %d", res.StatusCode)
	}
	_, page = get(t, th+"/patients/"+rPatient+"/rehab")
	if strings.Contains(string(page), "Broken") || !strings.Contains(string(page), "version 2") {
		t.Fatal("a refused programme was stored")
	}
	// The patient cannot plan their own programme; another therapist's
	// patient is not there.
	if res, _ := postPlan(t, e.as(t, rSelf).URL, url.Values{"name": {"Mine"}, "type": {"wrist_flexion"}, "side": {"left"}, "level": {"1"}, "frequency": {"1"}}); res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusNotFound {
		t.Fatalf("patient plans: %d", res.StatusCode)
	}
	if res, _ := postPlan(t, e.as(t, rOther).URL, url.Values{"name": {"Theirs"}, "type": {"wrist_flexion"}, "side": {"left"}, "level": {"1"}, "frequency": {"1"}}); res.StatusCode != http.StatusNotFound {
		t.Fatalf("other therapist plans: %d", res.StatusCode)
	}
}
