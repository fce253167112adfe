package web

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/browsertest"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/media"
	"github.com/custodia-health/custodia/internal/media/mediatest"
)

// mediaCaseID is the one case the media fixture knows; id-shaped, as path ids
// must be.
const mediaCaseID = "ce_00000000000000000000000000000c01"

// The viewer test page exists only in test binaries: this init runs only
// when the package's tests are compiled.
func init() { routeSets = append(routeSets, (*Server).routesMediaTestPage) }

func (s *Server) routesMediaTestPage(mux Mux) {
	mux.HandleFunc("GET /test/media", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		e := html.EscapeString
		var body, script string
		switch q.Get("show") {
		case "dicom":
			id := e(q.Get("file"))
			body = `<div class="dicomviewer" data-series="/api/v1/files/` + id + `/series"><div class="dv-viewport" tabindex="0"><canvas></canvas></div></div>`
			script = "dicomviewer.js"
		case "model":
			body = `<div class="viewer3d" data-src="/api/v1/files/` + e(q.Get("file")) + `/view" data-kind="` + e(q.Get("kind")) + `">` +
				`<canvas width="400" height="300" tabindex="0" aria-label="3D model; drag to rotate"></canvas></div>`
			script = "viewer3d.js"
		case "upload":
			body = `<form class="uploader" data-case="` + e(q.Get("case")) + `" data-slot="any" data-chunk="` + e(q.Get("chunk")) + `">` +
				`<label for="f">File</label> <input id="f" type="file" name="file" required>` +
				`<progress value="0" max="1" aria-label="Upload progress"></progress><button type="submit">Upload</button>` +
				`<p class="upload-status" aria-live="polite"></p></form>`
			script = "upload.js"
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Viewer test</title>`+
			`<link rel="icon" href="/static/favicon.svg"><link rel="stylesheet" href="/static/app.css"><script src="/static/%s" defer></script></head><body><main>%s</main></body></html>`, script, body)
	})
}

type mediaFixture struct {
	ts  *httptest.Server
	svc *media.Service
	p   *access.Principal
	dir string
}

// newMediaFixture runs the real server with a real media service over
// SQLite, a keyring, local blobs and the audit log; the case facts say the
// test clinician is on the patient's care team.
func newMediaFixture(t *testing.T) *mediaFixture {
	t.Helper()
	d := dbtest.SQLite(t)
	dir := t.TempDir()
	ms, _ := keys.GenerateMasterString()
	m, _ := keys.ParseMaster(ms)
	bs, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(nil)
	lg, err := audit.Open(context.Background(), d, priv, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	svc := &media.Service{
		Store: &media.Store{DB: d, Keys: keys.NewKeyring(d, m), Blobs: bs},
		Audit: AuditReceipts(lg),
		CaseFacts: func(ctx context.Context, p *access.Principal, caseID string) (string, access.Resource, error) {
			if caseID != mediaCaseID {
				return "", access.Resource{}, media.ErrNotFound
			}
			return "c00000000000000000000000000000a3", access.Resource{WorkspaceID: "ws-1", CareTeam: true}, nil
		},
	}
	s, err := New(Deps{DB: d, Log: slog.New(slog.DiscardHandler), Version: "test", Media: svc})
	if err != nil {
		t.Fatal(err)
	}
	p := &access.Principal{UserID: "user-1", SessionID: "sess-1", WorkspaceID: "ws-1", Role: access.RoleClinician}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), p)))
	}))
	t.Cleanup(ts.Close)
	return &mediaFixture{ts: ts, svc: svc, p: p, dir: dir}
}

// store uploads data through the API in chunks and returns the file id.
func (f *mediaFixture) store(t *testing.T, data []byte, chunk int) string {
	t.Helper()
	res := f.do(t, "POST", "/api/v1/uploads", strings.NewReader(fmt.Sprintf(`{"case_id":%q,"size":%d}`, mediaCaseID, len(data))), nil)
	if res.StatusCode != 201 {
		t.Fatalf("create upload: %d", res.StatusCode)
	}
	var u struct{ ID string }
	json.NewDecoder(res.Body).Decode(&u)
	for off := 0; off < len(data); off += chunk {
		end := min(len(data), off+chunk)
		res := f.do(t, "PUT", "/api/v1/uploads/"+u.ID, bytes.NewReader(data[off:end]),
			map[string]string{"Content-Range": fmt.Sprintf("bytes %d-%d/%d", off, end-1, len(data))})
		if res.StatusCode != 200 {
			t.Fatalf("put chunk: %d", res.StatusCode)
		}
	}
	res = f.do(t, "POST", "/api/v1/uploads/"+u.ID+"/complete", nil, nil)
	var fs struct{ ID, Kind string }
	json.NewDecoder(res.Body).Decode(&fs)
	if res.StatusCode != 201 {
		t.Fatalf("complete: %d", res.StatusCode)
	}
	return fs.ID
}

func (f *mediaFixture) do(t *testing.T, method, path string, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, f.ts.URL+path, body)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if method == "POST" && body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func TestMediaViewAndDownloadHeaders(t *testing.T) {
	f := newMediaFixture(t)
	id := f.store(t, mediatest.BinarySTL(40), 700)
	res := f.do(t, "GET", "/api/v1/files/"+id+"/view", nil, nil)
	h := res.Header
	if res.StatusCode != 200 || h.Get("Content-Disposition") != "inline" || h.Get("Cache-Control") != "no-store" || h.Get("Content-Type") != "model/stl" {
		t.Fatalf("view: %d %v", res.StatusCode, h)
	}
	b, _ := io.ReadAll(res.Body)
	if !bytes.Equal(b, mediatest.BinarySTL(40)) {
		t.Fatal("view bytes differ")
	}
	res = f.do(t, "GET", "/api/v1/files/"+id+"/download", nil, nil)
	cd := res.Header.Get("Content-Disposition")
	if res.StatusCode != 200 || cd != `attachment; filename="file-`+id[:12]+`.stl"` {
		t.Fatalf("download: %d %q", res.StatusCode, cd)
	}
	// A collaborator who did not upload it may view but not download.
	f.p.UserID = "user-2"
	if res := f.do(t, "GET", "/api/v1/files/"+id+"/download", nil, nil); res.StatusCode != 403 {
		t.Fatalf("download by someone else: %d", res.StatusCode)
	}
	if res := f.do(t, "GET", "/api/v1/files/"+id+"/view", nil, nil); res.StatusCode != 200 {
		t.Fatalf("view by a care team member: %d", res.StatusCode)
	}
}

func TestMediaUploadAPIErrors(t *testing.T) {
	f := newMediaFixture(t)
	res := f.do(t, "POST", "/api/v1/uploads", strings.NewReader(`{"case_id":"","size":0,"slot":"x"}`), nil)
	var p Problem
	json.NewDecoder(res.Body).Decode(&p)
	if res.StatusCode != 422 || p.Errors["case_id"] == "" || p.Errors["size"] == "" || p.Errors["slot"] == "" {
		t.Fatalf("%d %+v", res.StatusCode, p)
	}
	res = f.do(t, "POST", "/api/v1/uploads", strings.NewReader(`{"case_id":"`+mediaCaseID+`","size":10,"slot":"mesh"}`), nil)
	var u struct{ ID string }
	json.NewDecoder(res.Body).Decode(&u)
	res = f.do(t, "PUT", "/api/v1/uploads/"+u.ID, strings.NewReader("0123456789"), map[string]string{"Content-Range": "bytes 0-9"})
	if res.StatusCode != 422 {
		t.Fatalf("bad Content-Range: %d", res.StatusCode)
	}
	res = f.do(t, "PUT", "/api/v1/uploads/"+u.ID, strings.NewReader("56789"), map[string]string{"Content-Range": "bytes 5-9/10"})
	var conflict struct{ Received int64 }
	json.NewDecoder(res.Body).Decode(&conflict)
	if res.StatusCode != 409 || conflict.Received != 0 {
		t.Fatalf("out of order: %d %+v", res.StatusCode, conflict)
	}
	f.do(t, "PUT", "/api/v1/uploads/"+u.ID, strings.NewReader("0123456789"), map[string]string{"Content-Range": "bytes 0-9/10"})
	res = f.do(t, "POST", "/api/v1/uploads/"+u.ID+"/complete", nil, nil)
	json.NewDecoder(res.Body).Decode(&p)
	if res.StatusCode != 422 || !strings.Contains(p.Errors["file"], "binary STL") {
		t.Fatalf("complete with junk: %d %+v", res.StatusCode, p)
	}
}

// TestBrowserDICOMViewerWindowsAndScrollsFrames: the viewer draws a
// multi-frame file's first frame with the file's window, a drag changes
// the window and the pixels, and the arrow key shows the next frame.
func TestBrowserDICOMViewerWindowsAndScrollsFrames(t *testing.T) {
	f := newMediaFixture(t)
	id := f.store(t, mediatest.DICOMGray16(64, 64, 3, 2000, 1000, 2000, "CANARY^Browser"), 4096)
	b := browsertest.New(t)
	var win1, win2, overlay string
	var px1, px2 int
	samplePixel := `(function(){var c=document.querySelector('.dv-viewport canvas');var k=document.createElement('canvas');k.width=c.width;k.height=c.height;` +
		`var x=k.getContext('2d',{willReadFrequently:true});x.drawImage(c,0,0);return x.getImageData(Math.round(c.width*0.45),Math.round(c.height/2),1,1).data[0];})()`
	b.Run(t,
		chromedp.Navigate(f.ts.URL+"/test/media?show=dicom&file="+id),
		chromedp.WaitVisible(`.dicomviewer[data-shown="0"]`),
		chromedp.AttributeValue(`.dicomviewer`, "data-window", &win1, nil),
		chromedp.Evaluate(samplePixel, &px1),
		chromedp.ActionFunc(func(ctx context.Context) error {
			var box []float64
			if err := chromedp.Evaluate(`(function(){var r=document.querySelector('.dv-viewport').getBoundingClientRect();return [r.left+r.width/2,r.top+r.height/2];})()`, &box).Do(ctx); err != nil {
				return err
			}
			x, y := box[0], box[1]
			if err := input.DispatchMouseEvent(input.MousePressed, x, y).WithButton(input.Left).WithClickCount(1).Do(ctx); err != nil {
				return err
			}
			for i := 1; i <= 5; i++ {
				if err := input.DispatchMouseEvent(input.MouseMoved, x-float64(i*20), y+float64(i*20)).WithButton(input.Left).Do(ctx); err != nil {
					return err
				}
			}
			return input.DispatchMouseEvent(input.MouseReleased, x-100, y+100).WithButton(input.Left).WithClickCount(1).Do(ctx)
		}),
		chromedp.AttributeValue(`.dicomviewer`, "data-window", &win2, nil),
		chromedp.Evaluate(samplePixel, &px2),
	)
	if win1 != "1000/2000" || win2 == win1 || px1 == px2 {
		t.Fatalf("window %q → %q, pixel %d → %d", win1, win2, px1, px2)
	}
	b.Run(t,
		chromedp.Focus(`.dv-viewport`),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.WaitVisible(`.dicomviewer[data-shown="1"]`),
		chromedp.Text(`.dv-bl`, &overlay),
	)
	if !strings.Contains(overlay, "Frame 2 of 3") {
		t.Fatalf("overlay after ArrowDown: %q", overlay)
	}
	if p := problems(b); len(p) > 0 {
		t.Fatalf("browser problems: %v", p)
	}
}

func TestBrowser3DViewerRotates(t *testing.T) {
	f := newMediaFixture(t)
	id := f.store(t, mediatest.BinarySTL(30), 1000)
	b := browsertest.New(t)
	var rot1, rot2, rot3, verts string
	b.Run(t,
		chromedp.Navigate(f.ts.URL+"/test/media?show=model&kind=stl&file="+id),
		chromedp.WaitVisible(`canvas[data-loaded="true"]`),
		chromedp.AttributeValue(`canvas`, "data-rotation", &rot1, nil),
		chromedp.AttributeValue(`canvas`, "data-vertices", &verts, nil),
		chromedp.Click(`//button[text()="Rotate left"]`),
		chromedp.AttributeValue(`canvas`, "data-rotation", &rot2, nil),
	)
	if verts != "90" || rot1 == "" || rot1 == rot2 {
		t.Fatalf("vertices %q, rotation %q → %q", verts, rot1, rot2)
	}
	// A pointer drag across the canvas rotates too.
	var x, y float64 = 200, 150
	b.Run(t,
		chromedp.ActionFunc(func(ctx context.Context) error {
			var box []float64
			if err := chromedp.Evaluate(`(function(){var r=document.querySelector('canvas').getBoundingClientRect();return [r.left,r.top];})()`, &box).Do(ctx); err != nil {
				return err
			}
			x, y = box[0]+200, box[1]+150
			if err := input.DispatchMouseEvent(input.MousePressed, x, y).WithButton(input.Left).WithClickCount(1).Do(ctx); err != nil {
				return err
			}
			for i := 1; i <= 5; i++ {
				if err := input.DispatchMouseEvent(input.MouseMoved, x+float64(i*15), y+float64(i*5)).WithButton(input.Left).Do(ctx); err != nil {
					return err
				}
			}
			return input.DispatchMouseEvent(input.MouseReleased, x+75, y+25).WithButton(input.Left).WithClickCount(1).Do(ctx)
		}),
		chromedp.AttributeValue(`canvas`, "data-rotation", &rot3, nil),
	)
	if rot3 == rot2 {
		t.Fatalf("drag did not rotate: %q", rot3)
	}
	var statusText string
	b.Run(t, chromedp.Text(`.viewer-status`, &statusText))
	t.Logf("viewer status: %s", statusText)
	if p := problems(b); len(p) > 0 {
		t.Fatalf("browser problems: %v", p)
	}
}

func TestBrowserUploadShowsProgress(t *testing.T) {
	f := newMediaFixture(t)
	path := filepath.Join(t.TempDir(), "scan.stl")
	data := mediatest.BinarySTL(2000) // 100 KB, sent in 16 KB chunks
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t)
	var status, value, max, fileID string
	b.Run(t,
		chromedp.Navigate(f.ts.URL+"/test/media?show=upload&case="+mediaCaseID+"&chunk=16384"),
		chromedp.WaitVisible(`form.uploader`),
		chromedp.SetUploadFiles(`input[type=file]`, []string{path}),
		chromedp.Click(`button[type=submit]`),
		chromedp.WaitVisible(`form.uploader[data-file-id]`),
		chromedp.Text(`.upload-status`, &status),
		chromedp.Evaluate(`String(document.querySelector('progress').value)`, &value),
		chromedp.Evaluate(`String(document.querySelector('progress').max)`, &max),
		chromedp.AttributeValue(`form.uploader`, "data-file-id", &fileID, nil),
	)
	if !strings.Contains(status, "Uploaded") || value != max || max != fmt.Sprint(len(data)) {
		t.Fatalf("status %q, progress %s/%s", status, value, max)
	}
	res := f.do(t, "GET", "/api/v1/files/"+fileID+"/download", nil, nil)
	got, _ := io.ReadAll(res.Body)
	if !bytes.Equal(got, data) {
		t.Fatal("uploaded bytes differ")
	}
	if p := problems(b); len(p) > 0 {
		t.Fatalf("browser problems: %v", p)
	}
}

// problems are the browser's faults, less the software GL driver's
// performance notes, which say nothing about our code.
func problems(b *browsertest.Browser) []string {
	var out []string
	for _, p := range b.Problems() {
		if !strings.Contains(p, "GL Driver Message") {
			out = append(out, p)
		}
	}
	return out
}
