package media

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/media/mediatest"
)

func TestSmallFileHeldInTheDatabaseViewsAndDownloads(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		svc := e.service(e.log)
		const canary = "HELD^Canary"
		dcm := mediatest.DICOMGray16(64, 64, 2, 4000, 2000, 4000, canary)
		ctx := context.Background()
		withEntry := committedWithEntry.Load()
		f, _, err := svc.UploadSmall(ctx, uploader, "case-1", SlotDICOM, bytes.NewReader(dcm), int64(len(dcm)))
		if err != nil {
			t.Fatal(err)
		}
		if committedWithEntry.Load() != withEntry+1 {
			t.Fatal("the file was not committed in its audit entry's transaction")
		}
		if n := countRows(t, d, "media_held_objects"); n != 1 {
			t.Fatalf("%d held objects, want 1", n)
		}
		if n := countRows(t, d, "media_file_parts"); n != 0 {
			t.Fatalf("%d file parts, want none", n)
		}
		var stored []byte
		if err := d.Read.QueryRow(`SELECT data FROM media_held_objects WHERE file_id = $1`, f.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(stored, []byte(canary)) || bytes.Contains(stored, dcm[len(dcm)-256:]) {
			t.Fatal("the held object holds plaintext")
		}

		v, err := svc.OpenFile(ctx, uploader, f.ID, access.FileView)
		if err != nil {
			t.Fatal(err)
		}
		info, err := svc.Info(ctx, v)
		if err != nil || info.DICOM == nil || info.DICOM.Frames != 2 {
			t.Fatalf("info %+v, %v", info, err)
		}
		for frame := range 2 {
			png, err := svc.Frame(ctx, v, frame, nil)
			if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
				t.Fatalf("frame %d: %v", frame, err)
			}
		}
		if png, err := svc.Thumbnail(ctx, v); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Fatalf("thumbnail: %v", err)
		}
		if _, err := svc.Original(ctx, v); !errors.Is(err, ErrForbidden) {
			t.Fatalf("original through a view: %v", err)
		}

		dl, err := svc.OpenFile(ctx, uploader, f.ID, access.FileDownload)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := svc.Original(ctx, dl)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, dcm) {
			t.Fatalf("the download is not the original (%v)", err)
		}
	})
}

func TestHeldObjectsCannotBeSwappedBetweenFiles(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		svc := e.service(e.log)
		ctx := context.Background()
		var fs []File
		for _, name := range []string{"SWAP^One", "SWAP^Two"} {
			dcm := mediatest.DICOMGray16(16, 16, 1, 4000, 2000, 4000, name)
			f, _, err := svc.UploadSmall(ctx, uploader, "case-1", SlotDICOM, bytes.NewReader(dcm), int64(len(dcm)))
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
		}
		// Give the first file the second one's object, name and bytes.
		_, err := d.Write.Exec(`UPDATE media_held_objects SET object = (SELECT object FROM media_held_objects WHERE file_id = $1),
			data = (SELECT data FROM media_held_objects WHERE file_id = $1) WHERE file_id = $2`, fs[1].ID, fs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Source(ctx, e.receipt(t, "file.download", "pat-1"), fs[0]); !errors.Is(err, errPartsCorrupted) {
			t.Fatalf("a swapped object opened: %v", err)
		}
		// The bytes alone under the first file's own name do not decrypt.
		_, err = d.Write.Exec(`UPDATE media_held_objects SET object = $1 WHERE file_id = $2`, partName(fs[0].uploadID, 0), fs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		src, err := e.store.Source(ctx, e.receipt(t, "file.download", "pat-1"), fs[0])
		if err == nil {
			var rc io.ReadCloser
			if rc, err = src.Open(); err == nil {
				_, err = io.ReadAll(rc)
				rc.Close()
			}
		}
		if err == nil {
			t.Fatal("another file's bytes decrypted under this file's object name")
		}
	})
}

func TestLargerOneShotFilesGoToTheBlobStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		svc := e.service(e.log)
		dcm := mediatest.DICOMGray16(512, 512, 3, 4000, 2000, 4000, "BIG^OneShot")
		if len(dcm) <= MaxHeldObject {
			t.Fatalf("test file of %d bytes is not over the held limit", len(dcm))
		}
		ctx := context.Background()
		f, _, err := svc.UploadSmall(ctx, uploader, "case-1", SlotDICOM, bytes.NewReader(dcm), int64(len(dcm)))
		if err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, d, "media_held_objects"); n != 0 {
			t.Fatalf("%d held objects, want none", n)
		}
		if n := countObjects(t, e.dir); n != 1 {
			t.Fatalf("%d blob objects, want the original", n)
		}
		dl, err := svc.OpenFile(ctx, uploader, f.ID, access.FileDownload)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := svc.Original(ctx, dl)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, dcm) {
			t.Fatal("the download is not the original")
		}
	})
}

// The refusals of TestUploadSmallRefusalsLeaveNothing, with the audit log
// itself, whose AppendWith commits a small file with its entry.
func TestUploadSmallWithItsEntryRefusalsLeaveNothing(t *testing.T) {
	stl := mediatest.BinarySTL(10)
	tests := []struct {
		name    string
		p       *access.Principal
		closed  bool
		data    []byte
		size    int64
		wantErr error
		entries int // file.upload entries
	}{
		{"a file of the wrong kind is rejected", uploader, false, pngWithText(), 0, ErrRejected, 1},
		{"a short body is refused", uploader, false, stl[:100], int64(len(stl)), ErrChunkLength, 1},
		{"a longer body is refused", uploader, false, stl, int64(len(stl) - 1), ErrChunkLength, 1},
		{"a user off the care team is denied, and audited", stranger, false, stl, 0, ErrNotFound, 1},
		{"without the audit log nothing is stored", uploader, true, stl, 0, ErrAuditUnavailable, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				e := newTestEnv(t, d, t.TempDir())
				size := tc.size
				if size == 0 {
					size = int64(len(tc.data))
				}
				if tc.closed {
					e.log.Close()
				}
				_, _, err := e.service(e.log).UploadSmall(context.Background(), tc.p, "case-1", SlotMesh, bytes.NewReader(tc.data), size)
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
				var n int
				if err := d.Read.QueryRow(`SELECT COUNT(*) FROM audit_entries WHERE action = 'file.upload'`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != tc.entries {
					t.Fatalf("%d file.upload entries, want %d", n, tc.entries)
				}
			})
		})
	}
}

// A photograph committed with its entry keeps its renditions in the blob
// store and its original in the database.
func TestSmallPhotographWithItsEntryHasItsRenditions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		svc := e.service(e.log)
		ctx := context.Background()
		img := pngWithText()
		f, _, err := svc.UploadSmall(ctx, uploader, "case-1", SlotImage, bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, d, "media_held_objects"); n != 1 {
			t.Fatalf("%d held objects", n)
		}
		v, err := svc.OpenFile(ctx, uploader, f.ID, access.FileView)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := svc.ViewCopy(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		view, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.HasPrefix(view, []byte("\x89PNG")) {
			t.Fatal("no viewing copy")
		}
		if png, err := svc.Thumbnail(ctx, v); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Fatalf("thumbnail: %v", err)
		}
		dl, err := svc.OpenFile(ctx, uploader, f.ID, access.FileDownload)
		if err != nil {
			t.Fatal(err)
		}
		rc, err = svc.Original(ctx, dl)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, img) {
			t.Fatal("the download is not the original")
		}
	})
}
