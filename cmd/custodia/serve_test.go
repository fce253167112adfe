package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestServeServesMetricsOnlyOnTheirOwnListener starts the real serve
// command: /metrics answers on -metrics-addr and not on -addr.
func TestServeServesMetricsOnlyOnTheirOwnListener(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	main, metrics := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-addr", main, "-metrics-addr", metrics, "-data-dir", t.TempDir(), "-log-level", "error"}, io.Discard, io.Discard)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d", code)
		}
	}()
	get := func(url string) (int, []byte) {
		t.Helper()
		for range 200 { // the server is starting: retry until it listens
			res, err := http.Get(url)
			if err == nil {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				return res.StatusCode, b
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s never answered", url)
		return 0, nil
	}
	if code, _ := get("http://" + main + "/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	if code, _ := get("http://" + main + "/metrics"); code != 404 {
		t.Errorf("main listener /metrics: %d, want 404", code)
	}
	if code, body := get("http://" + metrics + "/metrics"); code != 200 || !bytes.Contains(body, []byte("custodia_http_requests_total")) {
		t.Errorf("metrics listener /metrics: %d %.200s", code, body)
	}
}
