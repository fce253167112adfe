package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the plain SQLite reference
)

// server is a custodia process this harness started and will stop.
type server struct {
	url  string
	bin  string
	cmd  *exec.Cmd
	dir  string
	logs *os.File
	// stopped is set by stop, so the deferred stop after an explicit one
	// (audit verify needs the server gone) does nothing.
	stopped bool
}

func startServer(ctx context.Context, c config) (*server, error) {
	bin := filepath.Join(c.work, "custodia")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/custodia")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build custodia: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &server{url: "http://" + addr, dir: filepath.Join(c.work, "data")}
	s.logs, err = os.Create(filepath.Join(c.work, "server.log"))
	if err != nil {
		return nil, err
	}
	s.bin = bin
	// -demo creates the fictional demo workspace and its accounts, which the
	// workloads sign in as.
	s.cmd = exec.Command(bin, "serve", "-demo", "-addr", addr, "-data-dir", s.dir, "-log-level", "warn")
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(s.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("the server did not become ready in 30 s; see its log in the work directory (-keep)")
}

// stop ends the server (once; later calls do nothing) and waits for it.
func (s *server) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	if s.logs != nil {
		_ = s.logs.Close()
	}
}

// loadResult summarises a bounded load run.
type loadResult struct {
	requests int
	errors   int
	perSec   float64
	p50, p99 time.Duration
}

func (l loadResult) String() string {
	return fmt.Sprintf("%.0f req/s, p50 %s, p99 %s", l.perSec, round(l.p50), round(l.p99))
}

func round(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= 100*time.Microsecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// load runs do from `clients` goroutines for d (and at most maxReq requests),
// recording each request's latency. It stops by itself.
func load(ctx context.Context, clients int, d time.Duration, maxReq int, do func(client *http.Client, i int) error) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	var next int64
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			myErrs := 0
			for ctx.Err() == nil {
				mu.Lock()
				i := int(next)
				next++
				mu.Unlock()
				if maxReq > 0 && i >= maxReq {
					break
				}
				t := time.Now()
				if err := do(client, i); err != nil {
					myErrs++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += myErrs
			mu.Unlock()
		}()
	}
	wg.Wait()
	took := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := loadResult{requests: len(lat), errors: errs, perSec: float64(len(lat)) / took.Seconds()}
	if len(lat) > 0 {
		r.p50 = lat[len(lat)*50/100]
		r.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return r
}

// get does one GET and drains the body, failing on a non-2xx status.
func get(client *http.Client, url string, hdr http.Header) error {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, bufio.NewReader(res.Body))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("GET: %s", res.Status)
	}
	return nil
}

func errNote(r loadResult) string {
	if r.errors == 0 {
		return ""
	}
	return fmt.Sprintf("%d errors", r.errors)
}
