package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// TestPutNoSyncThenSync: an object put without fsync reads back at once,
// Sync makes it durable (and says so for a missing one), and a failed copy
// leaves nothing, as with Put.
func TestPutNoSyncThenSync(t *testing.T) {
	l, dir := newStore(t)
	ctx := context.Background()
	want := data(100 << 10)
	if n, err := l.PutNoSync(ctx, "u/part-1", bytes.NewReader(want)); err != nil || n != int64(len(want)) {
		t.Fatalf("put: %d %v", n, err)
	}
	rc, err := l.Open(ctx, "u/part-1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, want) {
		t.Fatal("bytes differ")
	}
	if err := l.Sync(ctx, "u/part-1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(ctx, "u/none"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("sync of a missing object: %v", err)
	}
	if err := l.Delete(ctx, "u/part-1"); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("connection dropped")
	if _, err := l.PutNoSync(ctx, "u/part-2", io.MultiReader(bytes.NewReader(want[:10]), errReader{boom})); !errors.Is(err, boom) {
		t.Fatalf("failed copy: %v", err)
	}
	assertNothingStored(t, l, dir, "u/part-2")
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
