package blob

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestSyncSharedMakesEachObjectDurableWithFewerSyncs(t *testing.T) {
	l, _ := newStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "patients/p1/obj-" + string(rune('a'+i))
			if _, err := l.PutNoSync(ctx, name, strings.NewReader("bytes")); err != nil {
				t.Error(err)
				return
			}
			if err := l.SyncShared(ctx, name); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if l.group.completed == 0 || l.group.completed > 16 {
		t.Fatalf("%d filesystem syncs for 16 objects", l.group.completed)
	}
	if err := l.SyncShared(ctx, "patients/p1/missing"); err == nil {
		t.Fatal("a missing object synced")
	}
}

// TestGroupSyncWaitsForASyncThatStartsAfterTheCall: a call that arrives
// while a sync runs must not be satisfied by that sync.
func TestGroupSyncWaitsForASyncThatStartsAfterTheCall(t *testing.T) {
	var g groupSync
	var runs atomic.Int32
	inFirst := make(chan struct{})
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		_ = g.do(func() error {
			runs.Add(1)
			close(inFirst)
			<-release
			return nil
		})
		close(done)
	}()
	<-inFirst
	second := make(chan struct{})
	go func() {
		_ = g.do(func() error { runs.Add(1); return nil })
		close(second)
	}()
	close(release)
	<-done
	<-second
	if n := runs.Load(); n != 2 {
		t.Fatalf("the later call was satisfied by a sync that began before it (%d syncs)", n)
	}
}
