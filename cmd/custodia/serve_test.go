package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/keys"
)

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
