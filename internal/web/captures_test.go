package web

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/capture"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/media"
	"github.com/custodia-health/custodia/internal/media/mediatest"
)

// TestCapturesAPIFollowTheConnection drives the captures API as a patient
// and their doctor: nothing before the connection, the capture after, an
// attached copy that survives the revocation, and the audit of it all.
func TestCapturesAPIFollowTheConnection(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
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
		facts := func(ctx context.Context, p *access.Principal, caseID string) (string, access.Resource, error) {
			if caseID != "case-1" {
				return "", access.Resource{}, media.ErrNotFound
			}
			return "c00000000000000000000000000000a3", access.Resource{WorkspaceID: "ws-1", PatientID: "c00000000000000000000000000000a3", CareTeam: p.UserID == "u-doc"}, nil
		}
		store := &media.Store{DB: d, Keys: keys.NewKeyring(d, m), Blobs: bs}
		files := &media.Service{Store: store, Audit: AuditReceipts(lg), CaseFacts: facts}
		caps := &capture.Service{DB: d, Keys: store.Keys, Blobs: bs, Audit: AuditReceipts(lg), Files: store, CaseFacts: facts,
			Clinician: func(ctx context.Context, email, ws string) (string, bool) { return "u-doc", email == "doc@example.org" }}
		s, err := New(Deps{DB: d, Log: slog.New(slog.DiscardHandler), Version: "test", Media: files, Captures: caps})
		if err != nil {
			t.Fatal(err)
		}
		people := map[string]*access.Principal{
			"patient": {UserID: "u-pat", SessionID: "s1", WorkspaceID: "ws-1", Role: access.RolePatient, PatientID: "c00000000000000000000000000000a3"},
			"app":     {UserID: "u-pat", TokenID: "t1", Scopes: []string{"media:upload"}, WorkspaceID: "ws-1", Role: access.RolePatient, PatientID: "c00000000000000000000000000000a3"},
			"badapp":  {UserID: "u-pat", TokenID: "t2", Scopes: []string{"records:read"}, WorkspaceID: "ws-1", Role: access.RolePatient, PatientID: "c00000000000000000000000000000a3"},
			"doctor":  {UserID: "u-doc", SessionID: "s2", WorkspaceID: "ws-1", Role: access.RoleClinician},
		}
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), people[r.Header.Get("X-Test-As")])))
		}))
		t.Cleanup(ts.Close)
		do := func(as, method, path string, body []byte) (int, []byte) {
			t.Helper()
			req, _ := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
			req.Header.Set("X-Test-As", as)
			req.Header.Set("Origin", ts.URL)
			if body != nil && body[0] == '{' {
				req.Header.Set("Content-Type", "application/json")
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, b
		}
		stl := mediatest.BinarySTL(12)
		if code, body := do("badapp", "POST", "/api/v1/me/captures", stl); code != 404 && code != 403 {
			t.Fatalf("token without media:upload: %d %s", code, body)
		}
		code, body := do("patient", "POST", "/api/v1/me/captures", []byte("solid nothing\nthis is not a mesh\n"))
		if code != 422 || !strings.Contains(string(body), `"file"`) {
			t.Fatalf("non-mesh upload: %d %s", code, body)
		}
		code, body = do("app", "POST", "/api/v1/me/captures", stl)
		if code != 201 {
			t.Fatalf("upload: %d %s", code, body)
		}
		var c struct{ ID, Kind string }
		_ = json.Unmarshal(body, &c)
		if code, _ := do("doctor", "GET", "/api/v1/patients/c00000000000000000000000000000a3/captures", nil); code != 404 {
			t.Fatalf("doctor's list before connecting: %d", code)
		}
		if code, _ := do("doctor", "GET", "/api/v1/captures/"+c.ID+"/view", nil); code != 404 {
			t.Fatalf("doctor's view before connecting: %d", code)
		}
		code, body = do("patient", "POST", "/api/v1/me/connections", []byte(`{"email":"doc@example.org"}`))
		if code != 201 {
			t.Fatalf("connect: %d %s", code, body)
		}
		var conn struct{ ID string }
		_ = json.Unmarshal(body, &conn)
		code, body = do("doctor", "GET", "/api/v1/patients/c00000000000000000000000000000a3/captures", nil)
		if code != 200 || !strings.Contains(string(body), c.ID) {
			t.Fatalf("doctor's list after connecting: %d %s", code, body)
		}
		code, body = do("doctor", "GET", "/api/v1/captures/"+c.ID+"/view", nil)
		if code != 200 || !bytes.Equal(body, stl) {
			t.Fatalf("doctor's view after connecting: %d", code)
		}
		code, body = do("doctor", "POST", "/api/v1/captures/"+c.ID+"/attach", []byte(`{"case_id":"case-1"}`))
		if code != 201 {
			t.Fatalf("attach: %d %s", code, body)
		}
		var att struct{ View string }
		_ = json.Unmarshal(body, &att)
		code, body = do("patient", "DELETE", "/api/v1/me/connections/"+conn.ID, nil)
		if code != 204 {
			t.Fatalf("revoke: %d %s", code, body)
		}
		if code, _ := do("doctor", "GET", "/api/v1/captures/"+c.ID+"/view", nil); code != 404 && code != 403 {
			t.Fatalf("doctor's view after revoking: %d", code)
		}
		if code, _ := do("doctor", "GET", "/api/v1/patients/c00000000000000000000000000000a3/captures", nil); code != 404 && code != 403 {
			t.Fatalf("doctor's list after revoking: %d", code)
		}
		code, body = do("doctor", "GET", att.View, nil)
		if code != 200 || !bytes.Equal(body, stl) {
			t.Fatalf("the attached case file after revoking: %d", code)
		}
		// The patient's page lists the capture in the 3D viewer and shows a
		// refused file's reason next to the field.
		code, body = do("patient", "GET", "/me/captures", nil)
		if code != 200 || !strings.Contains(string(body), `data-src="/api/v1/captures/`+c.ID+`/view"`) {
			t.Fatalf("My captures page: %d", code)
		}
		var mp bytes.Buffer
		mw := multipart.NewWriter(&mp)
		fw, _ := mw.CreateFormFile("file", "scan.stl")
		_, _ = fw.Write([]byte("not a mesh at all"))
		_ = mw.Close()
		req, _ := http.NewRequest("POST", ts.URL+"/me/captures", &mp)
		req.Header.Set("X-Test-As", "patient")
		req.Header.Set("Origin", ts.URL)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 422 || !strings.Contains(string(page), `class="field-error" id="capture-file-error"`) {
			t.Fatalf("refused upload page: %d", res.StatusCode)
		}
		pg, err := lg.Query(context.Background(), audit.Filter{PatientID: "c00000000000000000000000000000a3", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range pg.Entries {
			seen[e.Action+" "+e.Decision] = true
		}
		for _, want := range []string{"capture.upload deny", "capture.upload allow", "capture.connect allow", "capture.view allow",
			"capture.attach allow", "capture.revoke allow", "capture.view deny", "capture.list deny"} {
			if !seen[want] {
				t.Errorf("audit lacks %q", want)
			}
		}
	})
}
