package app_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/config"
	"github.com/custodia-health/custodia/internal/keys"
)

// TestFailedStartRemovesTheMasterKeyItCreated: when the start fails before
// the new key has wrapped anything (here: the database cannot be opened),
// the key file this run created is removed; a key that was there before is
// never touched.
func TestFailedStartRemovesTheMasterKeyItCreated(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{Addr: "127.0.0.1:0", DataDir: dir, DatabaseURL: "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2",
		MailFrom: "custodia@localhost", LogLevel: "info", LogFormat: "text", MaxUpload: 1 << 20}
	key := filepath.Join(dir, keys.MasterKeyFile)
	if _, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("started without a database")
	}
	if _, err := os.Stat(key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the new master key was left behind: %v", err)
	}
	// An existing key stays.
	if _, _, err := keys.LoadOrCreateMaster(dir, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("started without a database")
	}
	if _, err := os.Stat(key); err != nil {
		t.Fatalf("an existing master key was removed: %v", err)
	}
}
