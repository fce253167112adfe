package media

import (
	"sync"
	"testing"
	"time"
)

// Files going through the gate from many goroutines all get through, and
// the gate ends empty: no file is left waiting and no pass is left over.
func TestGatherLetsEveryFileThroughInRounds(t *testing.T) {
	var g gatherer
	var mu sync.Mutex
	inside, rounds := 0, 0
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				g.enter(100 * time.Microsecond)
				mu.Lock()
				if inside == 0 {
					rounds++
				}
				inside++
				mu.Unlock()
				time.Sleep(50 * time.Microsecond) // the commit
				mu.Lock()
				inside--
				mu.Unlock()
				g.leave()
			}
		}()
	}
	wg.Wait()
	if g.running != 0 || g.waiting != 0 || g.pass != 0 {
		t.Fatalf("gate left with %d running, %d waiting, %d passes", g.running, g.waiting, g.pass)
	}
	if rounds == 0 || rounds > 300 {
		t.Fatalf("%d rounds", rounds)
	}
}
