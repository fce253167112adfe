package blob

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestListFindsObjectsByPrefixOnly(t *testing.T) {
	dir := t.TempDir()
	l, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []string{"media/u/a/0", "media/u/b/1", "media/f/c/thumb", "other"} {
		if _, err := l.Put(ctx, n, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	// A stray file in a shard directory is not an object.
	if err := os.WriteFile(filepath.Join(filepath.Dir(l.path("other")), "stray"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := l.List(ctx, "media/u/", func(o Listed) error {
		if o.ModTime.IsZero() {
			t.Errorf("%s has no time", o.Name)
		}
		got = append(got, o.Name)
		return l.Delete(ctx, o.Name)
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "media/u/a/0,media/u/b/1" {
		t.Fatalf("listed %v", got)
	}
	if _, err := l.Stat(ctx, "media/f/c/thumb"); err != nil {
		t.Fatal(err)
	}
}
