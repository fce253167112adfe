package capture_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// Fixture is a captures service on a real database, keyring, blob store and
// audit log, with one patient, their doctor (on the care team of the
// patient's case "case-1") and a case "case-other" of another patient.
type Fixture struct {
	Svc     *capture.Service
	Media   *media.Service
	Log     *audit.Log
	Dir     string
	Patient *access.Principal
	Doctor  *access.Principal
}

// NewFixture builds the fixture on d.
func NewFixture(t *testing.T, d *db.DB) *Fixture {
	t.Helper()
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
	ws := "ws-" + strings.Repeat("a", 4)
	pid := "pat-" + t.Name()
	facts := func(ctx context.Context, p *access.Principal, caseID string) (string, access.Resource, error) {
		switch caseID {
		case "case-1":
			return pid, access.Resource{WorkspaceID: ws, PatientID: pid, CareTeam: p.UserID == "u-doc"}, nil
		case "case-other":
			return "pat-other", access.Resource{WorkspaceID: ws, PatientID: "pat-other", CareTeam: p.UserID == "u-doc"}, nil
		}
		return "", access.Resource{}, media.ErrNotFound
	}
	store := &media.Store{DB: d, Keys: keys.NewKeyring(d, m), Blobs: bs}
	svc := &capture.Service{DB: d, Keys: store.Keys, Blobs: bs, Audit: lg, Files: store, CaseFacts: facts,
		Clinician: func(ctx context.Context, email, w string) (string, bool) {
			return "u-doc", email == "doc@example.org" && w == ws
		}}
	return &Fixture{Svc: svc, Media: &media.Service{Store: store, Audit: lg, CaseFacts: facts}, Log: lg, Dir: dir,
		Patient: &access.Principal{UserID: "u-pat", SessionID: "s1", WorkspaceID: ws, Role: access.RolePatient, PatientID: pid},
		Doctor:  &access.Principal{UserID: "u-doc", SessionID: "s2", WorkspaceID: ws, Role: access.RoleClinician}}
}

// Audited returns "action decision" for every audit entry on the patient,
// oldest first.
func (f *Fixture) Audited(t *testing.T) []string {
	t.Helper()
	pg, err := f.Log.Query(context.Background(), audit.Filter{PatientID: f.Patient.PatientID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(pg.Entries) - 1; i >= 0; i-- {
		out = append(out, pg.Entries[i].Action+" "+pg.Entries[i].Decision)
	}
	return out
}

func contains(list []string, want string) bool {
	for _, s := range list {
		if s == want {
			return true
		}
	}
	return false
}

func TestDoctorSeesCapturesOnlyWhileConnectedAndKeepsWhatWasAttached(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := NewFixture(t, d)
		stl := mediatest.BinarySTL(20)
		c1, info, err := f.Svc.Upload(ctx, f.Patient, bytes.NewReader(stl))
		if err != nil {
			t.Fatal(err)
		}
		if info.Kind != media.KindSTL || info.Faces != 20 {
			t.Fatalf("info = %+v", info)
		}
		c2, _, err := f.Svc.Upload(ctx, f.Patient, bytes.NewReader(mediatest.BinarySTL(3)))
		if err != nil {
			t.Fatal(err)
		}
		// Before connecting: nothing, and nothing to see that it exists.
		if _, err := f.Svc.List(ctx, f.Doctor, f.Patient.PatientID); !errors.Is(err, capture.ErrNotFound) {
			t.Fatalf("list before connecting: %v", err)
		}
		if _, err := f.Svc.Open(ctx, f.Doctor, c1.ID); !errors.Is(err, capture.ErrNotFound) {
			t.Fatalf("open before connecting: %v", err)
		}
		if _, err := f.Svc.Attach(ctx, f.Doctor, c1.ID, "case-1"); !errors.Is(err, capture.ErrNotFound) {
			t.Fatalf("attach before connecting: %v", err)
		}
		if _, err := f.Svc.Connect(ctx, f.Patient, "nobody@example.org"); !errors.Is(err, capture.ErrNoClinician) {
			t.Fatalf("connect to unknown email: %v", err)
		}
		conn, err := f.Svc.Connect(ctx, f.Patient, " doc@example.org ")
		if err != nil {
			t.Fatal(err)
		}
		list, err := f.Svc.List(ctx, f.Doctor, f.Patient.PatientID)
		if err != nil || len(list) != 2 {
			t.Fatalf("list after connecting: %d, %v", len(list), err)
		}
		v, err := f.Svc.Open(ctx, f.Doctor, c1.ID)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := f.Svc.Bytes(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, stl) {
			t.Fatal("the doctor's view is not the uploaded capture")
		}
		if _, err := f.Svc.Attach(ctx, f.Doctor, c1.ID, "case-other"); !errors.Is(err, capture.ErrWrongPatient) {
			t.Fatalf("attach to another patient's case: %v", err)
		}
		file, err := f.Svc.Attach(ctx, f.Doctor, c1.ID, "case-1")
		if err != nil {
			t.Fatal(err)
		}
		if file.CaseID != "case-1" || file.Kind != media.KindSTL || file.UploaderID != f.Patient.UserID {
			t.Fatalf("attached file = %+v", file)
		}
		if err := f.Svc.Revoke(ctx, f.Patient, conn.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.Svc.Revoke(ctx, f.Patient, conn.ID); !errors.Is(err, capture.ErrNotFound) {
			t.Fatalf("revoking twice: %v", err)
		}
		if cs, err := f.Svc.Connections(ctx, f.Patient); err != nil || len(cs) != 0 {
			t.Fatalf("connections after revoking: %v, %v", cs, err)
		}
		for _, id := range []string{c1.ID, c2.ID} {
			if _, err := f.Svc.Open(ctx, f.Doctor, id); !errors.Is(err, capture.ErrNotFound) && !errors.Is(err, capture.ErrForbidden) {
				t.Fatalf("open after revoking: %v", err)
			}
		}
		if _, err := f.Svc.List(ctx, f.Doctor, f.Patient.PatientID); err == nil {
			t.Fatal("the doctor still lists captures after revocation")
		}
		// The attached copy is part of the case record now.
		fv, err := f.Media.OpenFile(ctx, f.Doctor, file.ID, access.FileView)
		if err != nil {
			t.Fatalf("case file after revocation: %v", err)
		}
		mb, err := f.Media.ModelBytes(ctx, fv)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(mb)
		mb.Close()
		if !bytes.Equal(got, stl) {
			t.Fatal("the case file is not the capture")
		}
		// The patient still has both captures, and sees which is in a case.
		mine, err := f.Svc.List(ctx, f.Patient, f.Patient.PatientID)
		if err != nil || len(mine) != 2 {
			t.Fatalf("patient's list: %v, %v", mine, err)
		}
		a := f.Audited(t)
		for _, want := range []string{"capture.upload allow", "capture.list deny", "capture.view deny", "capture.attach deny",
			"capture.connect allow", "capture.list allow", "capture.view allow", "capture.attach allow", "capture.revoke allow"} {
			if !contains(a, want) {
				t.Errorf("audit lacks %q: %v", want, a)
			}
		}
		// The denials after revocation come after the revoke entry.
		last := strings.Join(a, "|")
		if i := strings.LastIndex(last, "capture.revoke allow"); !strings.Contains(last[i:], "capture.view deny") {
			t.Errorf("no denied view after the revocation: %v", a)
		}
	})
}

func TestATokenWithoutMediaUploadScopeIsRefused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := NewFixture(t, d)
		p := *f.Patient
		p.SessionID, p.TokenID, p.Scopes = "", "tok-1", []string{"records:read"}
		if _, _, err := f.Svc.Upload(context.Background(), &p, bytes.NewReader(mediatest.BinarySTL(2))); err == nil {
			t.Fatal("a token without media:upload uploaded a capture")
		}
		p.Scopes = []string{"media:upload"}
		if _, _, err := f.Svc.Upload(context.Background(), &p, bytes.NewReader(mediatest.BinarySTL(2))); err != nil {
			t.Fatalf("a media:upload token: %v", err)
		}
	})
}

func TestANonMeshFileIsRefusedWithAReasonAndLeavesNothing(t *testing.T) {
	cases := map[string][]byte{
		"text":      []byte("these are not the triangles you are looking for\n"),
		"png":       append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...),
		"empty":     {},
		"truncated": mediatest.BinarySTL(5)[:200],
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := NewFixture(t, d)
		for name, data := range cases {
			_, _, err := f.Svc.Upload(context.Background(), f.Patient, bytes.NewReader(data))
			var rej *media.Rejection
			if !errors.As(err, &rej) || rej.Reason == "" {
				t.Errorf("%s: err = %v, want a rejection with a reason", name, err)
			}
		}
		var n int
		if err := d.Read.QueryRow(`SELECT COUNT(*) FROM captures`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("captures rows = %d, %v", n, err)
		}
		var files []string
		_ = filepath.Walk(filepath.Join(f.Dir, "blobs"), func(path string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				files = append(files, path)
			}
			return nil
		})
		if len(files) != 0 {
			t.Fatalf("objects left behind: %v", files)
		}
	})
}

func TestAnotherPatientCannotSeeOrUploadAsSomeoneElse(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := NewFixture(t, d)
		c, _, err := f.Svc.Upload(ctx, f.Patient, bytes.NewReader(mediatest.BinarySTL(2)))
		if err != nil {
			t.Fatal(err)
		}
		other := &access.Principal{UserID: "u-other", SessionID: "s3", WorkspaceID: f.Patient.WorkspaceID, Role: access.RolePatient, PatientID: "pat-other"}
		if _, err := f.Svc.Open(ctx, other, c.ID); !errors.Is(err, capture.ErrNotFound) {
			t.Fatalf("another patient opened the capture: %v", err)
		}
		if _, err := f.Svc.List(ctx, other, f.Patient.PatientID); !errors.Is(err, capture.ErrNotFound) {
			t.Fatalf("another patient listed the captures: %v", err)
		}
		if _, err := f.Svc.Connect(ctx, f.Doctor, "doc@example.org"); !errors.Is(err, capture.ErrNotPatient) {
			t.Fatalf("a doctor connected on a patient's behalf: %v", err)
		}
	})
}

// Attaching writes the case file in one shot (no upload session), attaching
// the same capture to the same case again returns the copy already there,
// and listing captures reads their attachments in one query.
func TestAttachCopiesOnceInOneWriteAndListReadsAttachmentsTogether(t *testing.T) {
	d, tr := dbtest.TracedSQLite(t)
	ctx := context.Background()
	f := NewFixture(t, d)
	var caps []capture.Capture
	for _, n := range []int{5, 7, 9} {
		c, _, err := f.Svc.Upload(ctx, f.Patient, bytes.NewReader(mediatest.BinarySTL(n)))
		if err != nil {
			t.Fatal(err)
		}
		caps = append(caps, c)
	}
	if _, err := f.Svc.Connect(ctx, f.Patient, "doc@example.org"); err != nil {
		t.Fatal(err)
	}
	objects := func() int {
		n := 0
		_ = filepath.WalkDir(filepath.Join(f.Dir, "blobs"), func(_ string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	tr.Reset()
	first, err := f.Svc.Attach(ctx, f.Doctor, caps[0].ID, "case-1")
	if err != nil {
		t.Fatal(err)
	}
	if n := tr.Count(func(q string) bool { return strings.Contains(q, "media_uploads") }); n != 0 {
		t.Errorf("attaching opened an upload session (%d statements on media_uploads)", n)
	}
	stored := objects()
	again, err := f.Svc.Attach(ctx, f.Doctor, caps[0].ID, "case-1")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || objects() != stored {
		t.Errorf("re-attaching made another copy: %s then %s, objects %d then %d", first.ID, again.ID, stored, objects())
	}
	files, err := f.Media.Store.CaseFiles(ctx, "case-1")
	if err != nil || len(files) != 1 {
		t.Fatalf("case files after attaching twice: %d %v", len(files), err)
	}
	if _, err := f.Svc.Attach(ctx, f.Doctor, caps[1].ID, "case-1"); err != nil {
		t.Fatal(err)
	}
	tr.Reset()
	list, err := f.Svc.List(ctx, f.Doctor, f.Patient.PatientID)
	if err != nil || len(list) != 3 {
		t.Fatalf("list %d %v", len(list), err)
	}
	if n := tr.Count(func(q string) bool { return strings.Contains(q, "FROM capture_attachments") }); n != 1 {
		t.Errorf("listing 3 captures ran %d queries on attachments", n)
	}
	attached := map[string][]string{}
	for _, c := range list {
		attached[c.ID] = c.Cases
	}
	if len(attached[caps[0].ID]) != 1 || len(attached[caps[1].ID]) != 1 || len(attached[caps[2].ID]) != 0 {
		t.Errorf("attachments %v", attached)
	}
	a := f.Audited(t)
	if n := strings.Count(strings.Join(a, "|"), "capture.attach allow"); n != 3 {
		t.Errorf("%d attach entries, want one per attempt: %v", n, a)
	}
}

// outcomes returns "action decision outcome" for every capture.attach entry
// on the patient, oldest first.
func (f *Fixture) attachOutcomes(t *testing.T) []string {
	t.Helper()
	pg, err := f.Log.Query(context.Background(), audit.Filter{PatientID: f.Patient.PatientID, Action: "capture.attach", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(pg.Entries) - 1; i >= 0; i-- {
		e := pg.Entries[i]
		out = append(out, e.Action+" "+e.Decision+" "+e.Outcome)
	}
	return out
}

// Attaches of one capture to one case that run at once make one copy: the
// others return that copy or ErrAttachBusy, and each refused attempt has a
// failure entry after its allow entry.
func TestConcurrentAttachesMakeOneCopy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := NewFixture(t, d)
		c, _, err := f.Svc.Upload(ctx, f.Patient, bytes.NewReader(mediatest.BinarySTL(6)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.Connect(ctx, f.Patient, "doc@example.org"); err != nil {
			t.Fatal(err)
		}
		const n = 6
		files := make([]media.File, n)
		errs := make([]error, n)
		start := make(chan struct{})
		done := make(chan int)
		for i := range n {
			go func() {
				<-start
				files[i], errs[i] = f.Svc.Attach(ctx, f.Doctor, c.ID, "case-1")
				done <- i
			}()
		}
		close(start)
		for range n {
			<-done
		}
		ids, busy := map[string]bool{}, 0
		for i := range n {
			switch {
			case errs[i] == nil:
				ids[files[i].ID] = true
			case errors.Is(errs[i], capture.ErrAttachBusy):
				busy++
			default:
				t.Fatalf("attach %d: %v", i, errs[i])
			}
		}
		got, err := f.Media.Store.CaseFiles(ctx, "case-1")
		if err != nil || len(got) != 1 || len(ids) != 1 {
			t.Fatalf("%d case files (%v), %d distinct answers: want one copy", len(got), err, len(ids))
		}
		a := f.attachOutcomes(t)
		if allow, failed := strings.Count(strings.Join(a, "|"), "allow success"), strings.Count(strings.Join(a, "|"), "allow failure"); allow != n || failed != busy {
			t.Errorf("entries %v: want %d allowed and %d failures", a, n, busy)
		}
	})
}

// A claim another attach holds makes this one busy without a copy; a copy
// that fails after the allow entry is followed by a failure entry and
// leaves the capture free to attach again.
func TestAttachThatCannotCopyIsAuditedAsFailed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := NewFixture(t, d)
		c, _, err := f.Svc.Upload(ctx, f.Patient, bytes.NewReader(mediatest.BinarySTL(6)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.Connect(ctx, f.Patient, "doc@example.org"); err != nil {
			t.Fatal(err)
		}
		// Another attach is copying right now.
		if _, err := d.Write.ExecContext(ctx, `INSERT INTO capture_attachments (capture_id, case_id, file_id, attached_by, attached_at)
			VALUES ($1, 'case-1', '', 'u-doc', $2)`, c.ID, time.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.Attach(ctx, f.Doctor, c.ID, "case-1"); !errors.Is(err, capture.ErrAttachBusy) {
			t.Fatalf("attach during another: %v, want ErrAttachBusy", err)
		}
		if _, err := d.Write.ExecContext(ctx, `DELETE FROM capture_attachments`); err != nil {
			t.Fatal(err)
		}
		// The capture's bytes are gone: the copy fails.
		blobs := filepath.Join(f.Dir, "blobs")
		moved := filepath.Join(f.Dir, "moved")
		if err := os.Rename(blobs, moved); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.Attach(ctx, f.Doctor, c.ID, "case-1"); err == nil {
			t.Fatal("attach without the capture's bytes succeeded")
		}
		want := []string{"capture.attach allow success", "capture.attach allow failure", "capture.attach allow success", "capture.attach allow failure"}
		if a := f.attachOutcomes(t); !slices.Equal(a, want) {
			t.Errorf("entries %v, want %v", a, want)
		}
		if err := os.Rename(moved, blobs); err != nil {
			t.Fatal(err)
		}
		file, err := f.Svc.Attach(ctx, f.Doctor, c.ID, "case-1")
		if err != nil || file.ID == "" {
			t.Fatalf("attach after the failure: %+v %v", file, err)
		}
		list, err := f.Svc.List(ctx, f.Doctor, f.Patient.PatientID)
		if err != nil || len(list) != 1 || len(list[0].Cases) != 1 {
			t.Fatalf("list %+v %v", list, err)
		}
	})
}
