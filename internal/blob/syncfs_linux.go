//go:build linux

package blob

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes every dirty file and directory entry of the filesystem
// that holds dir, and waits for it (Linux syncfs(2)).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// startWriteback asks the kernel to start writing n bytes of f from off to
// disk, without waiting (sync_file_range(2) with SYNC_FILE_RANGE_WRITE). It
// is advice: a failure is ignored, and the later fsync still decides.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
