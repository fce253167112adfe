package app

import (
	"context"
	"time"
)

// JanitorInterval is how often the server clears away unfinished uploads
// whose time ran out.
const JanitorInterval = 15 * time.Minute

// StartJanitor runs housekeeping until ctx ends: it discards expired,
// never-completed uploads (their encrypted chunks and rows), so abandoned
// transfers do not keep patients' data on disk, and deletes upload objects
// that a crash left with no session or file (media.Store.SweepOrphans). Only `serve` starts it;
// Close waits for it.
func (a *App) StartJanitor(ctx context.Context) {
	if a.Media == nil {
		return
	}
	a.janitor.Add(1)
	go func() {
		defer a.janitor.Done()
		t := time.NewTicker(JanitorInterval)
		defer t.Stop()
		for {
			a.sweep(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// sweep runs one round of housekeeping and logs what it did (counts only).
func (a *App) sweep(ctx context.Context) {
	n, err := a.Media.Store.PurgeExpired(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.Log.Warn("discard expired uploads", "err", err.Error())
		}
		return
	}
	if n > 0 {
		a.Log.Info("discarded expired uploads", "count", n)
	}
	n, err = a.Media.Store.SweepOrphans(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.Log.Warn("sweep orphaned upload objects", "err", err.Error())
		}
		return
	}
	if n > 0 {
		a.Log.Info("deleted orphaned upload objects", "count", n)
	}
}
