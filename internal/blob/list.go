package blob

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Listed is an object found by List: its name and when it was stored.
type Listed struct {
	Name    string
	ModTime time.Time
}

// List calls fn for every object whose name starts with prefix, in no
// particular order, for housekeeping (finding objects no row names). Objects
// being written (still in the staging directory) are not listed. fn may
// delete the object it is given. An error from fn stops the walk.
func (l *Local) List(ctx context.Context, prefix string, fn func(Listed) error) error {
	shards, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	for _, s1 := range shards {
		if !s1.IsDir() || s1.Name() == tmpDir || len(s1.Name()) != 2 {
			continue
		}
		leaves, err := os.ReadDir(filepath.Join(l.dir, s1.Name()))
		if err != nil {
			return err
		}
		for _, s2 := range leaves {
			if !s2.IsDir() {
				continue
			}
			leaf := filepath.Join(l.dir, s1.Name(), s2.Name())
			entries, err := os.ReadDir(leaf)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			for _, e := range entries {
				if err := ctx.Err(); err != nil {
					return err
				}
				name := strings.ReplaceAll(e.Name(), "~", "/")
				// Only a file whose path is the one its name maps to is
				// an object; anything else in the tree is left alone.
				if e.IsDir() || !strings.HasPrefix(name, prefix) || ValidName(name) != nil || l.path(name) != filepath.Join(leaf, e.Name()) {
					continue
				}
				fi, err := e.Info()
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return err
				}
				if err := fn(Listed{Name: name, ModTime: fi.ModTime()}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
