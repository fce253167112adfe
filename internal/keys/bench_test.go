package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"io"
	"testing"
)

// benchStreamSize is large enough that per-stream setup (HKDF, buffers) is
// noise and throughput is comparable with BenchmarkRawAESGCM.
const benchStreamSize = 16 << 20

// BenchmarkRawAESGCM is the reference: AES-256-GCM sealing of 64 KiB buffers
// with no framing, no I/O and no key derivation.
func BenchmarkRawAESGCM(b *testing.B) {
	k := mustKey(b)
	blk, _ := aes.NewCipher(k.b[:])
	aead, _ := cipher.NewGCM(blk)
	src := patternBytes(SegmentSize)
	dst := make([]byte, 0, SegmentSize+tagSize)
	nonce := make([]byte, 12)
	b.SetBytes(SegmentSize)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		nonce[0] = byte(i)
		dst = aead.Seal(dst[:0], nonce, src, nil)
	}
}

// BenchmarkStreamEncrypt writes a 16 MiB stream in 1 MiB chunks from one
// cache-resident buffer, like the reference, so the ratio measures framing
// cost rather than memory bandwidth.
func BenchmarkStreamEncrypt(b *testing.B) {
	k := mustKey(b)
	chunk := patternBytes(1 << 20)
	ad := []byte("objects/bench")
	b.SetBytes(benchStreamSize)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w, err := NewEncryptingWriter(io.Discard, k, ad)
		if err != nil {
			b.Fatal(err)
		}
		for range benchStreamSize / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamDecrypt(b *testing.B) {
	k := mustKey(b)
	ad := []byte("objects/bench")
	ct := encryptStream(b, k, ad, patternBytes(benchStreamSize))
	b.SetBytes(benchStreamSize)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := NewDecryptingReader(bytes.NewReader(ct), k, ad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

var benchFieldAD = FieldAD{"patients", "0190c6a4-7e1b-7c1e-8a3f-2b9d0c4e5f60", "name"}

func BenchmarkSealField(b *testing.B) {
	k := mustKey(b)
	pt := []byte("Ana María Ruiz-Olmedo")
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SealField(k, pt, benchFieldAD); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenField(b *testing.B) {
	k := mustKey(b)
	pt := []byte("Ana María Ruiz-Olmedo")
	ct, _ := SealField(k, pt, benchFieldAD)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenField(k, ct, benchFieldAD); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlindIndex(b *testing.B) {
	k := mustKey(b)
	b.ReportAllocs()
	for b.Loop() {
		BlindIndex(k, "name", "ana maría ruiz-olmedo")
	}
}
