package media

import (
	"sync"
	"time"
)

// Gathering small files into one commit. Each small file is committed
// with its audit entry (PutSmallAudited), and the audit log commits
// whatever is waiting in one transaction. With a few clients sending one
// file after another, that settles into groups taking turns: while one
// group's commit waits for the disk, the other group's files are read and
// validated and then wait for the next commit, so each commit carries only
// part of the files that could share it. A file that reaches its commit
// while another small-file commit is running therefore waits for that
// commit to end and then, briefly, for the files of the last round to come
// back, so that they all share the next one. A lone client never waits: it
// finds no commit running and a last round of one.

// gatherMax bounds the wait for the last round's files.
const gatherMax = 3 * time.Millisecond

type gatherer struct {
	mu      sync.Mutex
	cond    *sync.Cond
	running int           // small-file commits in flight
	waiting int           // files at the gate
	pass    int           // files released and not yet through
	round   int           // files released together last time
	opened  time.Time     // when the last commit ended
	work    time.Duration // recent files' average time to reach the gate
	wakeAt  time.Time     // the deadline a wake-up is set for
}

// enter waits at the gate until the file may go to its commit; leave must
// be called after the commit. work is how long the file took to reach the
// gate (its reading, validation and encryption).
func (g *gatherer) enter(work time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	if g.work == 0 {
		g.work = work
	} else {
		g.work += (work - g.work) / 8
	}
	g.waiting++
	for {
		if g.pass > 0 {
			g.pass--
			g.waiting--
			g.running++
			return
		}
		if g.running == 0 {
			// The last round's files need about their work's time to
			// come back after their commit.
			deadline := g.opened.Add(min(gatherMax, 2*g.work+500*time.Microsecond))
			now := time.Now()
			if g.waiting >= g.round || !now.Before(deadline) {
				g.round, g.pass = g.waiting, g.waiting
				g.cond.Broadcast()
				continue
			}
			if !g.wakeAt.Equal(deadline) {
				g.wakeAt = deadline
				time.AfterFunc(deadline.Sub(now), func() {
					g.mu.Lock()
					g.cond.Broadcast()
					g.mu.Unlock()
				})
			}
		}
		g.cond.Wait()
	}
}

// leave ends a file's commit.
func (g *gatherer) leave() {
	g.mu.Lock()
	g.running--
	if g.running == 0 {
		g.opened = time.Now()
		if g.cond != nil {
			g.cond.Broadcast()
		}
	}
	g.mu.Unlock()
}
