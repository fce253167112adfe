package db

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// SQLite in WAL mode appends commits to the -wal file, and a checkpoint
// copies them back into the database file. By default the connection whose
// commit pushes the WAL past 1,000 pages does that copy, and its fsyncs,
// inside the commit: on the single write connection every writer waits
// for it. The checkpointer does the copy from a read connection instead
// (PASSIVE: it never blocks the writer or readers), soon after commits, so
// the writer only appends. The writer keeps a much larger automatic
// threshold (walBackstopPages) as a backstop for when the checkpointer falls
// behind or writes bypass Tx.
const (
	walBackstopPages   = 10_000
	checkpointInterval = 100 * time.Millisecond
)

type checkpointer struct {
	r    *sql.DB
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func startCheckpointer(r *sql.DB) *checkpointer {
	c := &checkpointer{r: r, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// committed tells the checkpointer that the WAL has grown. It never blocks.
func (c *checkpointer) committed() {
	if c == nil {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		// Commits that arrive while this runs (or during the pause)
		// leave one kick behind, so the next round picks them up.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var busy, frames, copied int
		// A failure is left to the next round or to the writer's own
		// backstop; the WAL keeps every commit durable either way.
		_ = c.r.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
		cancel()
		t := time.NewTimer(checkpointInterval)
		select {
		case <-c.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (c *checkpointer) close() {
	if c == nil {
		return
	}
	c.once.Do(func() { close(c.stop) })
	<-c.done
}
