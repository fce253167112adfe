package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/media/mediatest"
)

// failingAudit refuses every entry, as a full disk would.
type failingAudit struct{}

func (failingAudit) Append(context.Context, audit.Event) (audit.Receipt, error) {
	return audit.Receipt{}, errors.New("disk full")
}

func (e *testEnv) service(a audit.Appender) *Service {
	return &Service{Store: e.store, Audit: a,
		CaseFacts: func(_ context.Context, p *access.Principal, caseID string) (string, access.Resource, error) {
			if caseID != "case-1" {
				return "", access.Resource{}, ErrNotFound
			}
			return "pat-1", access.Resource{WorkspaceID: "ws-1", CareTeam: p.UserID == "user-1"}, nil
		}}
}

var (
	uploader = &access.Principal{UserID: "user-1", SessionID: "s", WorkspaceID: "ws-1", Role: access.RoleClinician}
	stranger = &access.Principal{UserID: "user-2", SessionID: "s", WorkspaceID: "ws-1", Role: access.RoleClinician}
)

func countRows(t *testing.T, d *db.DB, tbl string) int {
	t.Helper()
	var n int
	if err := d.Read.QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// recordingAudit passes entries on and remembers their action and decision.
type recordingAudit struct {
	next audit.Appender
	mu   sync.Mutex
	got  []string
}

func (r *recordingAudit) Append(ctx context.Context, ev audit.Event) (audit.Receipt, error) {
	rec, err := r.next.Append(ctx, ev)
	if err == nil {
		r.mu.Lock()
		r.got = append(r.got, ev.Action+" "+ev.Decision)
		r.mu.Unlock()
	}
	return rec, err
}

func TestUploadSmallStoresAndReadsBack(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		svc := e.service(e.log)
		dcm := mediatest.DICOMGray16(32, 32, 3, 4000, 2000, 4000, "SMALL^Upload")
		ctx := context.Background()
		f, info, err := svc.UploadSmall(ctx, uploader, "case-1", SlotDICOM, bytes.NewReader(dcm), int64(len(dcm)))
		if err != nil {
			t.Fatal(err)
		}
		if f.Kind != KindDICOM || info.DICOM == nil || info.DICOM.Frames != 3 {
			t.Fatalf("file %+v info %+v", f, info)
		}
		if n := countRows(t, d, "media_uploads"); n != 0 {
			t.Fatalf("%d upload sessions", n)
		}
		v, err := svc.OpenFile(ctx, uploader, f.ID, access.FileDownload)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := svc.Original(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		got.ReadFrom(rc)
		rc.Close()
		if !bytes.Equal(got.Bytes(), dcm) {
			t.Fatal("the original does not read back")
		}
	})
}

func TestUploadSmallRefusalsLeaveNothing(t *testing.T) {
	stl := mediatest.BinarySTL(10)
	tests := []struct {
		name    string
		p       *access.Principal
		failing bool
		data    []byte
		size    int64
		wantErr error
		entries []string // audit entries appended
	}{
		{"a file of the wrong kind is rejected", uploader, false, pngWithText(), 0, ErrRejected, []string{"file.upload allow"}},
		{"a short body is refused", uploader, false, stl[:100], int64(len(stl)), ErrChunkLength, []string{"file.upload allow"}},
		{"a longer body is refused", uploader, false, stl, int64(len(stl) - 1), ErrChunkLength, []string{"file.upload allow"}},
		{"a user off the care team is denied, and audited", stranger, false, stl, 0, ErrNotFound, []string{"file.upload deny"}},
		{"without the audit log nothing is stored", uploader, true, stl, 0, ErrAuditUnavailable, nil},
		{"a file over the one-shot limit is refused", uploader, false, stl, MaxSmallUpload + 1, ErrSize, []string{"file.upload allow"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				e := newTestEnv(t, d, t.TempDir())
				size := tc.size
				if size == 0 {
					size = int64(len(tc.data))
				}
				slot := SlotMesh
				rec := &recordingAudit{next: e.log}
				if tc.failing {
					rec.next = failingAudit{}
				}
				_, _, err := e.service(rec).UploadSmall(context.Background(), tc.p, "case-1", slot, bytes.NewReader(tc.data), size)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				for _, tbl := range []string{"media_files", "media_file_parts", "media_held_objects", "media_uploads", "media_upload_parts"} {
					if n := countRows(t, d, tbl); n != 0 {
						t.Fatalf("%s has %d rows", tbl, n)
					}
				}
				if n := countObjects(t, e.dir); n != 0 {
					t.Fatalf("%d objects left", n)
				}
				if fmt.Sprint(rec.got) != fmt.Sprint(tc.entries) {
					t.Fatalf("audit entries %v, want %v", rec.got, tc.entries)
				}
			})
		})
	}
}

func TestDICOMThumbnailIsRenderedOnFirstRequestAndKept(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		svc := e.service(e.log)
		dcm := mediatest.DICOMGray16(64, 64, 1, 4000, 2000, 4000, "THUMB^Lazy")
		ctx := context.Background()
		f, _, err := svc.UploadSmall(ctx, uploader, "case-1", SlotDICOM, bytes.NewReader(dcm), int64(len(dcm)))
		if err != nil {
			t.Fatal(err)
		}
		if !f.HasThumbnail() {
			t.Fatal("a viewable DICOM file must list a thumbnail")
		}
		// The original is held in the database (a small file), so the blob
		// store has nothing until the thumbnail is rendered.
		if n := countObjects(t, e.dir); n != 0 {
			t.Fatalf("%d objects after ingest, want none", n)
		}
		if n := countRows(t, d, "media_held_objects"); n != 1 {
			t.Fatalf("%d held objects after ingest, want the original", n)
		}
		var first []byte
		for i := range 2 {
			v, err := svc.OpenFile(ctx, uploader, f.ID, access.FileView)
			if err != nil {
				t.Fatal(err)
			}
			png, err := svc.Thumbnail(ctx, v)
			if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
				t.Fatalf("thumbnail %d: %v", i, err)
			}
			if i == 0 {
				first = png
			} else if !bytes.Equal(png, first) {
				t.Fatal("the kept thumbnail differs from the rendered one")
			}
			if n := countObjects(t, e.dir); n != 1 {
				t.Fatalf("%d objects after thumbnail request %d, want the thumbnail", n, i)
			}
		}
	})
}
