package media

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/blob"
)

// OrphanAge is how old an object under media/u/ must be before the
// janitor may take it for an orphan: an upload writes its objects before
// the rows that name them, and none takes this long to get from one to the
// other.
const OrphanAge = time.Hour

// objectLister is a blob store that can list its objects (blob.Local).
type objectLister interface {
	List(ctx context.Context, prefix string, fn func(blob.Listed) error) error
}

// SweepOrphans deletes the upload objects (media/u/<upload id>/...) older
// than OrphanAge whose upload id has neither an upload session nor a file:
// what a crash leaves between writing a one-shot file's object and
// committing its row (files of at most MaxHeldObject bytes have no such
// object: theirs is committed with the row), or between deleting an
// expired session's rows and its chunks. It returns how many it deleted.
// A store that cannot list its objects is not swept.
func (s *Store) SweepOrphans(ctx context.Context) (int, error) {
	ls, ok := s.Blobs.(objectLister)
	if !ok {
		return 0, nil
	}
	cutoff := s.now().Add(-OrphanAge)
	owned := map[string]bool{} // upload id: has a session or a file
	var orphans []string
	err := ls.List(ctx, "media/u/", func(o blob.Listed) error {
		if o.ModTime.After(cutoff) {
			return nil
		}
		id, _, ok := strings.Cut(strings.TrimPrefix(o.Name, "media/u/"), "/")
		if !ok || id == "" {
			return nil
		}
		own, seen := owned[id]
		if !seen {
			var one int
			err := s.DB.Read.QueryRowContext(ctx, `SELECT 1 FROM media_uploads WHERE id = $1
				UNION ALL SELECT 1 FROM media_files WHERE upload_id = $1 LIMIT 1`, id).Scan(&one)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				own = false
			case err != nil:
				return fmt.Errorf("sweep upload objects: %w", err)
			default:
				own = true
			}
			owned[id] = own
		}
		if !own {
			orphans = append(orphans, o.Name)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range orphans {
		if err := s.Blobs.Delete(ctx, name); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return n, fmt.Errorf("sweep upload objects: %w", err)
		}
		n++
	}
	return n, nil
}
