package blob

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

const (
	killChildEnv = "CUSTODIA_BLOB_KILL9_CHILD_DIR"
	killName     = "patients/p1/capture.ply"
	// killMarker is plaintext that must never reach the disk.
	killMarker = "CANARY-PATIENT-Zyx-Quuxley-1957-"
)

// slowMarkerReader yields the marker forever, slowly, so the parent can kill
// the child in the middle of an upload.
type slowMarkerReader struct{}

func (slowMarkerReader) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	p = p[:min(len(p), 16<<10)]
	for i := range p {
		p[i] = killMarker[i%len(killMarker)]
	}
	return len(p), nil
}

// TestKill9DuringPutEncryptedHelper is the child half of
// TestKill9DuringPutEncrypted; it does nothing unless started by it.
func TestKill9DuringPutEncryptedHelper(t *testing.T) {
	dir := os.Getenv(killChildEnv)
	if dir == "" {
		t.Skip("child process of TestKill9DuringPutEncrypted")
	}
	l, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = PutEncrypted(context.Background(), l, killName, mustKey(t), slowMarkerReader{})
	t.Fatalf("PutEncrypted of an endless stream returned: %v", err)
}

// TestKill9DuringPutEncrypted kills a process mid-upload with SIGKILL (no
// deferred cleanup runs) and checks that nothing is visible under the name,
// that no plaintext reached the disk, and that NewLocal removes the debris.
func TestKill9DuringPutEncrypted(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL semantics")
	}
	dir := filepath.Join(t.TempDir(), "blobs")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9DuringPutEncryptedHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Wait until a temporary file exists and holds several segments.
	const grown = 512 << 10
	deadline := time.After(30 * time.Second)
	var tmpSize int64
	for tmpSize < grown {
		select {
		case err := <-exited:
			t.Fatalf("child exited early (%v):\n%s", err, out.String())
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("no temporary file grew past %d bytes:\n%s", grown, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		entries, _ := os.ReadDir(filepath.Join(dir, tmpDir))
		for _, e := range entries {
			if fi, err := e.Info(); err == nil {
				tmpSize = max(tmpSize, fi.Size())
			}
		}
	}
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.String() != "signal: killed" {
		t.Fatalf("child did not die by SIGKILL: %v", err)
	}

	// The object is not visible, and the staged ciphertext holds no plaintext.
	if _, err := os.Stat(objectPath(dir, killName)); !os.IsNotExist(err) {
		t.Fatalf("object visible after the writer was killed: %v", err)
	}
	var temps, scanned int
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("read %s: %v", p, err)
			return nil
		}
		scanned += len(b)
		if bytes.Contains(b, []byte(killMarker)) || bytes.Contains(b, []byte(killMarker[:12])) {
			t.Errorf("plaintext marker found in %s", p)
		}
		if strings.HasPrefix(p, filepath.Join(dir, tmpDir)+string(filepath.Separator)) {
			temps++
		}
		return nil
	})
	if temps != 1 || scanned < grown {
		t.Fatalf("expected the killed upload's temporary file (found %d files, %d bytes)", temps, scanned)
	}

	l, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Stat(context.Background(), killName); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat err = %v, want ErrNotFound", err)
	}
	assertNothingStored(t, l, dir, killName)
}
