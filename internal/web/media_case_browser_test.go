package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/browsertest"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/media"
	"github.com/custodia-health/custodia/internal/media/mediatest"
	"github.com/custodia-health/custodia/internal/patient"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
)

// caseMediaFixture is the records stack with the real media service on
// it, as the app wires them, behind a test-only sign-in: GET /test/as/NAME
// sets a cookie naming a principal (as the records browser test does).
type caseMediaFixture struct {
	ts     *httptest.Server
	env    *pt.Env
	svc    *media.Service
	caseID string
	mu     sync.Mutex
	as     map[string]*access.Principal
}

func newCaseMediaFixture(t *testing.T) *caseMediaFixture {
	t.Helper()
	env := pt.New(t, dbtest.SQLite(t))
	env.Audit.AfterAppend = CountReceipt
	bs, err := blob.NewLocal(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &media.Service{
		Store: &media.Store{DB: env.DB, Keys: env.Keys, Blobs: bs},
		Audit: env.Audit,
		CaseFacts: func(ctx context.Context, p *access.Principal, caseID string) (string, access.Resource, error) {
			pid, r, err := env.Cases.Facts(ctx, p, caseID)
			if errors.Is(err, patient.ErrNotFound) {
				return "", r, media.ErrNotFound
			}
			return pid, r, err
		},
	}
	s, err := New(Deps{DB: env.DB, Log: slog.New(slog.DiscardHandler), Version: "test", Media: svc, Records: &Records{Patients: env.Patients, Cases: env.Cases}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	doc := pt.Clinician("ws1", "doc1")
	x, err := env.Patients.Create(ctx, doc, pt.Profile("Greta", "Lindqvist"))
	if err != nil {
		t.Fatal(err)
	}
	title := "Rhinoplasty planning"
	c, err := env.Cases.Create(ctx, doc, x.ID, casefile.Input{Title: &title})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Cases.AddCollaborator(ctx, doc, c.ID, "doc2"); err != nil {
		t.Fatal(err)
	}
	if err := env.Cases.Share(ctx, doc, c.ID, casefile.Sharing{Shared: true}); err != nil {
		t.Fatal(err)
	}
	f := &caseMediaFixture{env: env, svc: svc, caseID: c.ID, as: map[string]*access.Principal{
		"doc1": doc, "doc2": pt.Clinician("ws1", "doc2"), "greta": pt.PatientUser("u-greta", x.ID)}}
	f.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := strings.CutPrefix(r.URL.Path, "/test/as/"); ok {
			http.SetCookie(w, &http.Cookie{Name: "test-as", Value: name, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		if ck, err := r.Cookie("test-as"); err == nil {
			f.mu.Lock()
			p := f.as[ck.Value]
			f.mu.Unlock()
			if p != nil {
				r = r.WithContext(access.WithPrincipal(r.Context(), p))
			}
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(f.ts.Close)
	return f
}

// getAs requests path as the named test user, outside the browser.
func (f *caseMediaFixture) getAs(t *testing.T, name, path string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", f.ts.URL+path, nil)
	req.AddCookie(&http.Cookie{Name: "test-as", Value: name})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestCaseImagingInABrowser: a clinician uploads a model and a DICOM image
// from the case page, sees both listed, rotates the model and windows the
// image in their viewers; a collaborator and the patient see the files but
// get no download button, and the download URL answers 403 to them.
func TestCaseImagingInABrowser(t *testing.T) {
	f := newCaseMediaFixture(t)
	dir := t.TempDir()
	stl, dcm := mediatest.BinarySTL(3000), mediatest.DICOMGray16(64, 64, 3, 2000, 1000, 2000, "CANARY^Case")
	stlPath, dcmPath := filepath.Join(dir, "jaw.stl"), filepath.Join(dir, "ct.dcm")
	if err := os.WriteFile(stlPath, stl, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dcmPath, dcm, 0o600); err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t)
	casePage := f.ts.URL + "/cases/" + f.caseID
	var stlValue, stlMax, dcmValue, dcmMax, status, list string
	var downloads, thumbs int
	b.Run(t,
		chromedp.Navigate(f.ts.URL+"/test/as/doc1"),
		chromedp.Navigate(casePage),
		chromedp.WaitVisible(`form.uploader`),
		// A small chunk size makes the progress bar move through several chunks.
		chromedp.Evaluate(`document.querySelector('form.uploader').dataset.chunk='16384'`, nil),
		chromedp.SetUploadFiles(`#upload-file`, []string{stlPath}),
		chromedp.Click(`#upload-submit`),
		// The page reloads after the upload; the list is the server's.
		chromedp.WaitVisible(`li[data-kind="stl"]`),
		chromedp.WaitVisible(`form.uploader[data-file-id]`),
		chromedp.Evaluate(`String(document.querySelector('progress').value)`, &stlValue),
		chromedp.Evaluate(`String(document.querySelector('progress').max)`, &stlMax),
		chromedp.SetUploadFiles(`#upload-file`, []string{dcmPath}),
		chromedp.Click(`#upload-submit`),
		chromedp.WaitVisible(`li[data-kind="dicom"] img.file-thumb`),
		chromedp.WaitVisible(`form.uploader[data-file-id]`),
		chromedp.Evaluate(`String(document.querySelector('progress').value)`, &dcmValue),
		chromedp.Evaluate(`String(document.querySelector('progress').max)`, &dcmMax),
		chromedp.Text(`.upload-status`, &status),
		chromedp.Text(`#files`, &list),
		chromedp.Evaluate(`document.querySelectorAll('ul.files .file-download').length`, &downloads),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('ul.files img.file-thumb')).filter(function(i){return i.complete&&i.naturalWidth>0;}).length`, &thumbs),
	)
	if stlValue != stlMax || stlMax != itoa(len(stl)) || dcmValue != dcmMax || dcmMax != itoa(len(dcm)) {
		t.Fatalf("progress: STL %s/%s (want %d), DICOM %s/%s (want %d)", stlValue, stlMax, len(stl), dcmValue, dcmMax, len(dcm))
	}
	if !strings.Contains(status, "Uploaded: a DICOM file") {
		t.Fatalf("status after the DICOM upload: %q", status)
	}
	for _, want := range []string{"jaw.stl", "STL model", "1 file, 3 frames", "uploaded by doc1"} {
		if !strings.Contains(list, want) {
			t.Fatalf("file list lacks %q: %q", want, list)
		}
	}
	if strings.Contains(list, "CANARY") {
		t.Fatal("the file list shows DICOM header values")
	}
	if downloads != 2 || thumbs != 2 {
		t.Fatalf("the uploader sees %d download buttons and %d loaded thumbnails/icons, want 2 and 2", downloads, thumbs)
	}

	// The 3D viewer rotates.
	var rot1, rot2 string
	b.Run(t,
		chromedp.Click(`li[data-kind="stl"] a.file-view`),
		chromedp.WaitVisible(`canvas[data-loaded="true"]`),
		chromedp.AttributeValue(`canvas`, "data-rotation", &rot1, nil),
		chromedp.Click(`//button[text()="Rotate left"]`),
		chromedp.AttributeValue(`canvas`, "data-rotation", &rot2, nil),
	)
	if rot1 == "" || rot1 == rot2 {
		t.Fatalf("rotation %q → %q", rot1, rot2)
	}
	// The DICOM viewer changes window and level.
	var win1, win2 string
	b.Run(t,
		chromedp.Navigate(casePage),
		chromedp.Click(`li[data-kind="dicom"] a.file-view`),
		chromedp.WaitVisible(`.dicomviewer[data-shown="0"]`),
		chromedp.AttributeValue(`.dicomviewer`, "data-window", &win1, nil),
		chromedp.Click(`//div[contains(@class,"dv-presets")]/button[text()="Full range"]`),
		chromedp.WaitNotPresent(`.dicomviewer[data-window="`+win1+`"]`),
		chromedp.AttributeValue(`.dicomviewer`, "data-window", &win2, nil),
	)
	if win1 != "1000/2000" || win2 == win1 {
		t.Fatalf("window %q → %q", win1, win2)
	}
	var fileIDs []string
	if err := chromedp.Run(b.Ctx, chromedp.Navigate(casePage), chromedp.WaitVisible(`ul.files`),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('ul.files li[data-file]')).map(function(l){return l.dataset.file;})`, &fileIDs)); err != nil {
		t.Fatal(err)
	}
	if len(fileIDs) != 2 {
		t.Fatalf("file ids: %v", fileIDs)
	}
	if code := f.getAs(t, "doc1", "/api/v1/files/"+fileIDs[0]+"/download"); code != http.StatusOK {
		t.Fatalf("the uploader's download: %d", code)
	}

	// A collaborator and the patient see the files, view only.
	for _, who := range []string{"doc2", "greta"} {
		var text string
		var n, dl, forms int
		b.Run(t,
			chromedp.Navigate(f.ts.URL+"/test/as/"+who),
			chromedp.Navigate(casePage),
			chromedp.WaitVisible(`#files-h`),
			chromedp.Text(`#files`, &text),
			chromedp.Evaluate(`document.querySelectorAll('ul.files li[data-file] a.file-view').length`, &n),
			chromedp.Evaluate(`document.querySelectorAll('.file-download').length`, &dl),
			chromedp.Evaluate(`document.querySelectorAll('form.uploader').length`, &forms),
		)
		if n != 2 || dl != 0 {
			t.Fatalf("%s sees %d view links and %d download buttons: %q", who, n, dl, text)
		}
		if who == "greta" && forms != 0 {
			t.Fatal("the patient's view of the case has an upload form")
		}
		for _, id := range fileIDs {
			if code := f.getAs(t, who, "/api/v1/files/"+id+"/download"); code != http.StatusForbidden {
				t.Fatalf("%s downloading %s: %d, want 403", who, id, code)
			}
			if code := f.getAs(t, who, "/files/"+id+"/view"); code != http.StatusOK {
				t.Fatalf("%s opening the viewer of %s: %d", who, id, code)
			}
		}
	}
	var patientViewer string
	b.Run(t,
		chromedp.Navigate(f.ts.URL+"/files/"+fileIDs[1]+"/view"),
		chromedp.WaitVisible(`h1`),
		chromedp.Text(`main`, &patientViewer),
	)
	if strings.Contains(patientViewer, "Download original") {
		t.Fatal("the patient's viewer page offers the download")
	}
	if p := problems(b); len(p) > 0 {
		t.Fatalf("browser problems: %v", p)
	}
}

// TestCaseFileListIsOneAuditedEntry: listing a case's files is one
// "file.list" entry naming the patient; a patient sees nothing of an
// unshared case's files.
func TestCaseFileListIsOneAuditedEntry(t *testing.T) {
	f := newCaseMediaFixture(t)
	count := func(action, patientID string) int {
		n := 0
		for _, e := range f.env.Entries(t) {
			if e.Action == action && e.PatientID == patientID && e.ResourceID == f.caseID {
				n++
			}
		}
		return n
	}
	patientID := f.as["greta"].PatientID
	if code := f.getAs(t, "doc1", "/cases/"+f.caseID); code != http.StatusOK {
		t.Fatalf("case page: %d", code)
	}
	if n := count("file.list", patientID); n != 1 {
		t.Fatalf("file.list entries after one page view: %d", n)
	}
	if err := f.env.Cases.Share(context.Background(), f.as["doc1"], f.caseID, casefile.Sharing{}); err != nil {
		t.Fatal(err)
	}
	if code := f.getAs(t, "greta", "/cases/"+f.caseID); code == http.StatusOK {
		t.Fatal("the patient opened an unshared case")
	}
	svcFiles, err := f.svc.CaseFiles(context.Background(), f.as["greta"], f.caseID)
	if !errors.Is(err, media.ErrForbidden) && !errors.Is(err, media.ErrNotFound) || len(svcFiles) != 0 {
		t.Fatalf("the patient listed an unshared case's files: %v, %v", svcFiles, err)
	}
}
