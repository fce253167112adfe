package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/keys"
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

// TestFailedStartOnABusyPortLeavesNoMasterKey: a first start on a port
// already taken fails with a message naming -addr, and leaves no master key
// (nor database) that a later start would take for the data's own.
func TestFailedStartOnABusyPortLeavesNoMasterKey(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "data")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"serve", "-addr", ln.Addr().String(), "-data-dir", dir}, &out, &errb)
	if code == 0 {
		t.Fatal("serve started on a busy port")
	}
	if !strings.Contains(errb.String(), "-addr") {
		t.Errorf("the error does not say how to choose another address: %q", errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, keys.MasterKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("master key left behind after the failed start: %v", err)
	}
}
