package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
)

// pattern is a deterministic byte table whose length is not a multiple of the
// segment size, so every segment of a patterned stream has distinct content.
var pattern = func() []byte {
	b := make([]byte, 65537)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// patternReader yields n bytes of pattern without holding them. It does not
// implement WriterTo, so io.Copy exercises the writer's ReadFrom.
type patternReader struct{ off, n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if rem := r.n - r.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	total := 0
	for len(p) > 0 {
		c := copy(p, pattern[r.off%int64(len(pattern)):])
		p = p[c:]
		r.off += int64(c)
		total += c
	}
	return total, nil
}

func patternBytes(n int) []byte {
	b, _ := io.ReadAll(&patternReader{n: int64(n)})
	return b
}

// patternChecker verifies that what is written to it is the pattern.
type patternChecker struct {
	off int64
	bad bool
}

func (c *patternChecker) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		want := pattern[c.off%int64(len(pattern)):]
		m := min(len(want), len(p))
		if !bytes.Equal(p[:m], want[:m]) {
			c.bad = true
		}
		p = p[m:]
		c.off += int64(m)
	}
	return n, nil
}

func encryptStream(tb testing.TB, k *Key, ad, pt []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := NewEncryptingWriter(&buf, k, ad)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(pt); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// decryptStream reads with small Reads, so it exercises Read rather than
// WriteTo; it returns whatever plaintext was released before an error.
func decryptStream(k *Key, ad, ct []byte) ([]byte, error) {
	r, err := NewDecryptingReader(bytes.NewReader(ct), k, ad)
	if err != nil {
		return nil, err
	}
	var out []byte
	buf := make([]byte, 10000)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

var streamSizes = []int{0, 1, 100, SegmentSize - 1, SegmentSize, SegmentSize + 1, 2 * SegmentSize, 3*SegmentSize + 17, 5<<20 + 3}

func TestStreamRoundTrip(t *testing.T) {
	k := mustKey(t)
	ad := []byte("objects/p1/scan.stl")
	for _, size := range streamSizes {
		pt := patternBytes(size)
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			writers := map[string]func(w io.WriteCloser) error{
				"one Write": func(w io.WriteCloser) error { _, err := w.Write(pt); return err },
				"ragged Writes": func(w io.WriteCloser) error {
					r := rand.New(rand.NewPCG(uint64(size), 9))
					for p := pt; len(p) > 0; {
						n := min(len(p), 1+r.IntN(3*SegmentSize/2))
						if _, err := w.Write(p[:n]); err != nil {
							return err
						}
						p = p[n:]
					}
					return nil
				},
				"io.Copy (ReadFrom)": func(w io.WriteCloser) error {
					_, err := io.Copy(w, &patternReader{n: int64(size)})
					return err
				},
			}
			for name, write := range writers {
				var buf bytes.Buffer
				w, err := NewEncryptingWriter(&buf, k, ad)
				if err != nil {
					t.Fatal(err)
				}
				if err := write(w); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				ct := buf.Bytes()
				if int64(len(ct)) != CiphertextSize(int64(size)) {
					t.Errorf("%s: ciphertext %d bytes, CiphertextSize says %d", name, len(ct), CiphertextSize(int64(size)))
				}
				got, err := decryptStream(k, ad, ct)
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("%s: Read round trip: err=%v, equal=%v", name, err, bytes.Equal(got, pt))
				}
				r, err := NewDecryptingReader(bytes.NewReader(ct), k, ad)
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				if _, err := io.Copy(&out, r); err != nil || !bytes.Equal(out.Bytes(), pt) {
					t.Fatalf("%s: WriteTo round trip: err=%v", name, err)
				}
			}
		})
	}
}

func TestStreamRejects(t *testing.T) {
	k := mustKey(t)
	ad := []byte("objects/a")
	pt := patternBytes(2*SegmentSize + 100) // three segments, the last short
	ct := encryptStream(t, k, ad, pt)
	seg := func(i int) []byte { // i-th ciphertext segment
		start := headerSize + i*cipherSegLen
		return ct[start:min(start+cipherSegLen, len(ct))]
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 0x10
		return c
	}
	hdr := ct[:headerSize]
	emptyCT := encryptStream(t, k, ad, nil)
	for _, tc := range []struct {
		name string
		key  *Key
		ad   []byte
		ct   []byte
		// authentic is how much plaintext may be released before the error.
		authentic int
	}{
		{"empty input", k, ad, nil, 0},
		{"short header", k, ad, ct[:headerSize-1], 0},
		{"header only", k, ad, hdr, 0},
		{"empty stream without its final segment", k, ad, emptyCT[:headerSize], 0},
		{"truncated at first segment boundary", k, ad, cat(hdr, seg(0)), 0},
		{"truncated at second segment boundary", k, ad, cat(hdr, seg(0), seg(1)), SegmentSize},
		{"truncated mid first segment", k, ad, ct[:headerSize+100], 0},
		{"truncated mid last segment", k, ad, ct[:len(ct)-50], 2 * SegmentSize},
		{"truncated by one byte", k, ad, ct[:len(ct)-1], 2 * SegmentSize},
		{"first two segments swapped", k, ad, cat(hdr, seg(1), seg(0), seg(2)), 0},
		{"middle segment dropped", k, ad, cat(hdr, seg(0), seg(2)), SegmentSize},
		{"segment duplicated", k, ad, cat(hdr, seg(0), seg(0), seg(1), seg(2)), SegmentSize},
		{"flipped version", k, ad, flip(0), 0},
		{"flipped salt", k, ad, flip(5), 0},
		{"flipped nonce prefix", k, ad, flip(headerSize - 1), 0},
		{"flipped bit in first segment", k, ad, flip(headerSize + 1000), 0},
		{"flipped bit in second segment", k, ad, flip(headerSize + cipherSegLen + 7), SegmentSize},
		{"flipped bit in last tag", k, ad, flip(len(ct) - 1), 2 * SegmentSize},
		{"one byte appended", k, ad, cat(ct, []byte{0}), 2 * SegmentSize},
		{"last segment appended again", k, ad, cat(ct, seg(2)), 2 * SegmentSize},
		{"bytes appended to empty stream", k, ad, cat(emptyCT, []byte("xyz")), 0},
		{"wrong ad", k, []byte("objects/b"), ct, 0},
		{"wrong key", mustKey(t), ad, ct, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decryptStream(tc.key, tc.ad, tc.ct)
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("err = %v, want ErrDecrypt", err)
			}
			if len(got) > tc.authentic || !bytes.Equal(got, pt[:len(got)]) {
				t.Fatalf("released %d bytes before the error; only %d authentic bytes may be", len(got), tc.authentic)
			}
			// The WriteTo path must agree.
			r, err := NewDecryptingReader(bytes.NewReader(tc.ct), tc.key, tc.ad)
			if err == nil {
				var out bytes.Buffer
				_, err = io.Copy(&out, r)
				if out.Len() > tc.authentic {
					t.Fatalf("WriteTo released %d bytes", out.Len())
				}
			}
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("WriteTo err = %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestStreamSourceErrorIsDecryptErrorWithCause(t *testing.T) {
	k := mustKey(t)
	ct := encryptStream(t, k, nil, patternBytes(3*SegmentSize))
	boom := errors.New("disk on fire")
	src := io.MultiReader(bytes.NewReader(ct[:headerSize+cipherSegLen+10]), iotestErrReader{boom})
	r, err := NewDecryptingReader(src, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, r)
	if !errors.Is(err, ErrDecrypt) || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want ErrDecrypt wrapping the cause", err)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("write failed")
	}
	w.after--
	return len(p), nil
}

func TestEncryptingWriterErrors(t *testing.T) {
	k := mustKey(t)
	w, err := NewEncryptingWriter(&failWriter{after: 1}, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(patternBytes(3 * SegmentSize)); err == nil {
		t.Fatal("Write succeeded although the destination failed")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after a failure succeeded")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after a failure succeeded")
	}

	w, _ = NewEncryptingWriter(io.Discard, k, nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

func TestCiphertextSize(t *testing.T) {
	for _, tc := range []struct{ pt, want int64 }{
		{0, headerSize + tagSize},
		{1, headerSize + 1 + tagSize},
		{SegmentSize, headerSize + SegmentSize + tagSize},
		{SegmentSize + 1, headerSize + SegmentSize + 1 + 2*tagSize},
	} {
		if got := CiphertextSize(tc.pt); got != tc.want {
			t.Errorf("CiphertextSize(%d) = %d, want %d", tc.pt, got, tc.want)
		}
	}
}

// TestStreamFlatMemory pushes a large stream through encryption and
// decryption with io.Copy and checks that allocation does not grow with size.
func TestStreamFlatMemory(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	k := mustKey(t)
	ad := []byte("big")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	pr, pw := io.Pipe()
	go func() {
		w, err := NewEncryptingWriter(pw, k, ad)
		if err == nil {
			_, err = io.Copy(w, &patternReader{n: size})
		}
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	r, err := NewDecryptingReader(pr, k, ad)
	if err != nil {
		t.Fatal(err)
	}
	check := &patternChecker{}
	n, err := io.Copy(check, r)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n != size || check.bad {
		t.Fatalf("decrypted %d bytes (want %d), content ok=%v", n, size, !check.bad)
	}
	const limit = 4 << 20
	alloc := after.TotalAlloc - before.TotalAlloc
	inuse := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d MiB streamed: TotalAlloc +%d KiB, HeapInuse %+d KiB", size>>20, alloc>>10, inuse>>10)
	if alloc > limit || inuse > limit {
		t.Fatalf("memory grew with stream size: TotalAlloc +%d, HeapInuse %+d (limit %d)", alloc, inuse, limit)
	}
}
