package blob

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

const benchSize = 64 << 20

// BenchmarkPlainFileWrite is the reference for BenchmarkLocalPutEncrypted:
// the same bytes written the way Put writes them (temporary file, fsync,
// rename, directory fsync) with no encryption and no store logic.
func BenchmarkPlainFileWrite(b *testing.B) {
	src := data(benchSize)
	dir := b.TempDir()
	final := filepath.Join(dir, "object")
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		f, err := os.CreateTemp(dir, "put-*")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(src); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(f.Name(), final); err != nil {
			b.Fatal(err)
		}
		if err := syncDir(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLocalPut is Put without encryption: the store's own overhead.
func BenchmarkLocalPut(b *testing.B) {
	src := data(benchSize)
	l, _ := newStore(b)
	ctx := context.Background()
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		if _, err := l.Put(ctx, "patients/p1/object", bytes.NewReader(src)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLocalPutEncrypted(b *testing.B) {
	src := data(benchSize)
	l, _ := newStore(b)
	k := mustKey(b)
	ctx := context.Background()
	b.SetBytes(benchSize)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := PutEncrypted(ctx, l, "patients/p1/object", k, bytes.NewReader(src)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLocalOpenEncrypted(b *testing.B) {
	src := data(benchSize)
	l, _ := newStore(b)
	k := mustKey(b)
	ctx := context.Background()
	if _, err := PutEncrypted(ctx, l, "patients/p1/object", k, bytes.NewReader(src)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rc, err := OpenEncrypted(ctx, l, "patients/p1/object", k)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}
