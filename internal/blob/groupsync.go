package blob

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// groupSync lets concurrent callers share one filesystem sync: a caller
// needs a sync that starts after its own writes, so it waits for the next
// one to begin and end; whoever finds none running runs it for everyone
// waiting. Small objects arriving together then cost one syncfs, not four
// fsyncs each (file, two shard directories, root).
type groupSync struct {
	mu        sync.Mutex
	cond      *sync.Cond
	started   uint64 // syncs begun
	completed uint64 // syncs finished
	running   bool
	lastErr   error
}

func (g *groupSync) do(run func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	need := g.started + 1 // a sync that begins after this call's writes
	for g.completed < need {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		gen := g.started
		g.mu.Unlock()
		err := run()
		g.mu.Lock()
		g.running, g.completed, g.lastErr = false, gen, err
		g.cond.Broadcast()
	}
	return g.lastErr
}

// SyncShared makes an object stored by PutNoSync durable like Sync, but
// concurrent callers share one sync of the whole filesystem (syncfs), which
// also covers the new shard directories and the rename. Where syncfs is not
// available it is Sync.
func (l *Local) SyncShared(ctx context.Context, name string) error {
	if ValidName(name) != nil {
		return invalidName("sync", name)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := l.group.do(func() error { return syncFS(l.dir) })
	if errors.Is(err, errors.ErrUnsupported) {
		return l.Sync(ctx, name)
	}
	if err != nil {
		return fmt.Errorf("blob: sync %s: %w", name, err)
	}
	if _, err := l.Stat(ctx, name); err != nil {
		return err
	}
	return nil
}
