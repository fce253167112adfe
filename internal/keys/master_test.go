package keys

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateMasterCreatesPrivateFileOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	m1, created, err := LoadOrCreateMaster(dir, "")
	if err != nil || !created {
		t.Fatalf("first run: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %#o, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data directory holds %d entries, want only the key file", len(entries))
	}
	m2, created, err := LoadOrCreateMaster(dir, "")
	if err != nil || created {
		t.Fatalf("second run: created=%v err=%v", created, err)
	}
	if m1.ID() != m2.ID() || m1.key.b != m2.key.b {
		t.Fatal("second run loaded a different key")
	}
	if len(m1.ID()) != 16 || strings.Contains(hex.EncodeToString(m1.key.b[:]), m1.ID()) {
		t.Errorf("ID %q must be 8 hex bytes unrelated to the key bytes", m1.ID())
	}
}

func TestLoadOrCreateMasterRefusesLoosePermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		dir := t.TempDir()
		if _, _, err := LoadOrCreateMaster(dir, ""); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, MasterKeyFile)
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateMaster(dir, "")
		if err == nil {
			t.Fatalf("mode %#o accepted", mode)
		}
		if !strings.Contains(err.Error(), "0600") || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %#o: error does not say what to do: %v", mode, err)
		}
	}
}

func TestLoadOrCreateMasterFromEnv(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i)
	}
	b64 := base64.StdEncoding.EncodeToString(raw)
	hx := hex.EncodeToString(raw)
	dir := t.TempDir()
	a, created, err := LoadOrCreateMaster(dir, b64)
	if err != nil || created {
		t.Fatalf("base64: created=%v err=%v", created, err)
	}
	b, _, err := LoadOrCreateMaster(dir, " "+strings.ToUpper(hx)+"\n")
	if err != nil {
		t.Fatalf("hex: %v", err)
	}
	if a.ID() != b.ID() {
		t.Fatal("base64 and hex forms of one key give different IDs")
	}
	if _, err := os.Stat(filepath.Join(dir, MasterKeyFile)); !os.IsNotExist(err) {
		t.Fatal("a key file was created although the environment supplied the key")
	}
}

func TestLoadOrCreateMasterRejectsMalformedEnvWithoutEchoingIt(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"too short base64", "c2VjcmV0LXZhbHVlLXNob3J0"},
		{"too long hex", strings.Repeat("ab", 33)},
		{"hex with bad digit", strings.Repeat("ab", 31) + "zz"},
		{"garbage", "hunter2-secret-password"},
		{"base64 of 31 bytes", base64.StdEncoding.EncodeToString(make([]byte, 31))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := LoadOrCreateMaster(t.TempDir(), tc.value)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, strings.TrimSpace(tc.value)) || strings.Contains(msg, tc.value[:8]) {
				t.Fatalf("error echoes the secret: %v", err)
			}
			if !strings.Contains(msg, MasterEnv) || !strings.Contains(msg, "base64") || !strings.Contains(msg, "hex") {
				t.Fatalf("error does not name the variable and the expected form: %v", err)
			}
		})
	}
}

func TestGenerateMasterStringParses(t *testing.T) {
	s, err := GenerateMasterString()
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMaster(s)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := GenerateMasterString()
	m2, _ := ParseMaster(s2)
	if m.ID() == m2.ID() {
		t.Fatal("two generated keys share an ID")
	}
}
