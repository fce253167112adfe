package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/app/apptest"
	"github.com/custodia-health/custodia/internal/patient"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
)

// demoEnv is the whole program with the demo data loaded (serve -demo).
func demoEnv(t *testing.T) *apptest.Env {
	t.Helper()
	env := apptest.New(t, "")
	if err := env.App.LoadDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	return env
}

func getPage(t *testing.T, env *apptest.Env, c *http.Client, path string) (int, string) {
	t.Helper()
	res, err := c.Get(env.Server.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// demoPatientID finds the demo patient Alma Demoson's record id.
func demoPatientID(t *testing.T, env *apptest.Env) string {
	t.Helper()
	ctx := context.Background()
	ws, ids, err := env.App.Identity.EnsureDemoWorkspace(ctx, app.DemoWorkspaceName, app.DemoAccounts)
	if err != nil {
		t.Fatal(err)
	}
	p := pt.Clinician(ws, ids[0])
	pg, err := env.App.Patients.Search(ctx, p, patient.Query{MRN: "DEMO-0001"})
	if err != nil || len(pg.Patients) != 1 {
		t.Fatalf("demo patient: %v", err)
	}
	return pg.Patients[0].ID
}

func TestLandingPageShowsEachRoleItsWork(t *testing.T) {
	env := demoEnv(t)
	alma := demoPatientID(t, env)
	cases := []struct {
		email string
		want  []string
		not   []string
	}{
		{"clinician@demo.custodia.example",
			[]string{"<h1>My work</h1>", `id="my-patients"`, "Alma Demoson", "Bruno Samplewood", `id="recent-cases"`, "Rhinoplasty", "ACL reconstruction",
				"New uploads and comments", "You</strong> commented on", "uploaded " + fmt.Sprint(app.DemoSeriesLength+1) + " DICOM images to", "uploaded an STL model to", `href="/patients/new"`},
			[]string{"Privacy reviews", "Members"}},
		{"privacy@demo.custodia.example",
			[]string{"<h1>Privacy reviews</h1>", `id="pending-count">0<`, "No emergency access waits for review", `href="/privacy/audit"`},
			[]string{"Rhinoplasty", "New patient"}},
		{"patient@demo.custodia.example",
			[]string{"Hello, Alma Demoson", `id="my-record"`, `id="shared-with-me"`, "Rhinoplasty", `id="my-consents"`,
				`href="/patients/` + alma + `/consents"`, "Who accessed my record"},
			[]string{"ACL reconstruction", "Bruno", "Follow-up"}}, // another patient; a case not shared with her
		{"admin@demo.custodia.example",
			[]string{`id="admin-members"`, "4 members: 1 admin, 1 clinician, 1 privacy officer, 1 front desk staff member.", `id="admin-invitations"`, `href="/workspace/members#invite"`, `id="admin-settings"`,
				"Two-step verification is <strong>not required</strong>"},
			[]string{"Alma", "Rhinoplasty"}},
	}
	for _, c := range cases {
		t.Run(c.email, func(t *testing.T) {
			a := env.SignIn(t, c.email, app.DemoPassword)
			status, body := getPage(t, env, a.Client, "/")
			if status != 200 {
				t.Fatalf("status %d: %.300s", status, body)
			}
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("landing page lacks %q", w)
				}
			}
			for _, n := range c.not {
				if strings.Contains(body, n) {
					t.Errorf("landing page shows %q", n)
				}
			}
			// Names, never ids: the record id appears only inside links.
			if n, links := strings.Count(body, alma), strings.Count(body, `/patients/`+alma); n != links {
				t.Errorf("the patient's id is shown outside links (%d times, %d in links)", n, links)
			}
		})
	}
	// Someone not signed in gets the welcome page with the way in.
	status, body := getPage(t, env, http.DefaultClient, "/")
	if status != 200 || !strings.Contains(body, `href="/signin"`) || strings.Contains(body, "Alma") {
		t.Fatalf("welcome page %d", status)
	}
}

func TestDemoPatientPortalAccountSignsInAndSeesHerRecord(t *testing.T) {
	env := demoEnv(t)
	alma := demoPatientID(t, env)
	a := env.SignIn(t, app.DemoPatientAccount.Email, app.DemoPassword)
	status, body := getPage(t, env, a.Client, "/me")
	if status != 200 || !strings.Contains(body, "Alma Demoson") || !strings.Contains(body, "1986-03-14") || !strings.Contains(body, "Rhinoplasty") {
		t.Fatalf("her record: %d", status)
	}
	status, body = getPage(t, env, a.Client, "/patients/"+alma+"/consents")
	if status != 200 || !strings.Contains(body, "Give consent") {
		t.Fatalf("her consents: %d", status)
	}
	// A second load adds no second account and changes nothing.
	if err := env.App.LoadDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if status, _ := getPage(t, env, env.SignIn(t, app.DemoPatientAccount.Email, app.DemoPassword).Client, "/me"); status != 200 {
		t.Fatalf("after a second demo load: %d", status)
	}
}
