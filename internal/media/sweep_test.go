package media

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/media/mediatest"
)

func TestSweepDeletesOnlyOldUploadObjectsNoSessionOrFileOwns(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		ctx := context.Background()
		svc := e.service(e.log)
		// A file stored in the blob store (over the held limit) ...
		big := mediatest.DICOMGray16(512, 512, 3, 4000, 2000, 4000, "SWEEP^Kept")
		if _, _, err := svc.UploadSmall(ctx, uploader, "case-1", SlotDICOM, bytes.NewReader(big), int64(len(big))); err != nil {
			t.Fatal(err)
		}
		// ... an open upload session with a chunk ...
		stl := mediatest.BinarySTL(10)
		u, err := e.store.CreateUpload(ctx, NewUpload{WorkspaceID: "ws-1", PatientID: "pat-1", CaseID: "case-1", UploaderID: "user-1", Size: int64(len(stl)), Slot: SlotMesh})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.PutChunk(ctx, u.ID, "user-1", ContentRange{0, 99, int64(len(stl))}, bytes.NewReader(stl[:100])); err != nil {
			t.Fatal(err)
		}
		// ... and what a crash leaves: a one-shot object no row names.
		key, err := e.store.Keys.PatientKey(ctx, "ws-1", "pat-1")
		if err != nil {
			t.Fatal(err)
		}
		orphan := partName(newID(), 0)
		if _, err := blob.PutEncrypted(ctx, e.store.Blobs, orphan, key, bytes.NewReader(big)); err != nil {
			t.Fatal(err)
		}
		before := countObjects(t, e.dir)

		// Too young to be taken for an orphan.
		if n, err := e.store.SweepOrphans(ctx); err != nil || n != 0 {
			t.Fatalf("swept %d (%v) of young objects", n, err)
		}
		// An hour and more later.
		e.store.Now = func() time.Time { return time.Now().Add(OrphanAge + time.Minute) }
		n, err := e.store.SweepOrphans(ctx)
		if err != nil || n != 1 {
			t.Fatalf("swept %d (%v), want the orphan", n, err)
		}
		if _, err := e.store.Blobs.Stat(ctx, orphan); err == nil {
			t.Fatal("the orphan is still there")
		}
		if got := countObjects(t, e.dir); got != before-1 {
			t.Fatalf("%d objects, want %d", got, before-1)
		}
		if n, err := e.store.SweepOrphans(ctx); err != nil || n != 0 {
			t.Fatalf("second sweep: %d, %v", n, err)
		}
		if !strings.HasPrefix(orphan, "media/u/") {
			t.Fatal(orphan)
		}
	})
}
