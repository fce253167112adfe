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
