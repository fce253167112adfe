package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Streaming file encryption, after the STREAM construction (Hoang, Reyhanitabar,
// Rogaway, Vizár) as used by Tink and age:
//
//	header  = version (1) || salt (32) || nonce prefix (7)
//	subkey  = HKDF-SHA256(key, salt, "custodia.stream" || version || len(ad) || ad)
//	segment = AES-256-GCM(subkey, nonce = prefix || counter (4, big endian) || last (1), plaintext, ad)
//
// Plaintext is cut into fixed SegmentSize segments; only the final one has the
// last flag set, and a stream always has one (an empty file is one empty final
// segment). Because the flag and the counter are in the nonce, truncation,
// reordering, duplication and appended bytes all fail authentication, and a
// reader can release each segment as soon as it authenticates, so memory
// stays at one segment whatever the file size.
const (
	// SegmentSize is the plaintext size of every segment but the last.
	SegmentSize = 64 << 10

	tagSize      = 16
	saltSize     = 32
	prefixSize   = 7
	headerSize   = 1 + saltSize + prefixSize
	streamNonce  = 12
	cipherSegLen = SegmentSize + tagSize
)

// ErrStreamTooLarge means a stream would need more than 2^32 segments
// (256 TiB); past that the segment counter in the nonce would repeat.
var ErrStreamTooLarge = errors.New("keys: stream exceeds the maximum size of 2^32 segments")

// CiphertextSize returns the exact stored size of a stream holding
// plaintextSize bytes, so callers can set Content-Length or check quotas
// before encrypting.
func CiphertextSize(plaintextSize int64) int64 {
	segs := int64(1)
	if plaintextSize > 0 {
		segs = (plaintextSize + SegmentSize - 1) / SegmentSize
	}
	return headerSize + plaintextSize + segs*tagSize
}

// streamAEAD derives the per-file subkey. Binding ad into the derivation (and
// again into every segment) means a stream opened with the wrong ad fails on
// its first segment.
func streamAEAD(k *Key, salt, ad []byte, version byte) (cipher.AEAD, error) {
	info := make([]byte, 0, 24+len(ad))
	info = append(info, "custodia.stream"...)
	info = append(info, version)
	info = binary.BigEndian.AppendUint32(info, uint32(len(ad)))
	info = append(info, ad...)
	sub := k.derive(salt, string(info))
	blk, err := aes.NewCipher(sub.b[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// setNonce writes the counter and last flag into the tail of nonce.
func setNonce(nonce *[streamNonce]byte, counter uint32, last bool) {
	binary.BigEndian.PutUint32(nonce[prefixSize:], counter)
	nonce[streamNonce-1] = 0
	if last {
		nonce[streamNonce-1] = 1
	}
}

// encWriter is the writer half. buf holds, in order, room for the header
// (sent with the first segment, saving a write) and one segment plus tag;
// segments are sealed in place, so nothing is allocated per segment.
type encWriter struct {
	dst     io.Writer
	aead    cipher.AEAD
	ad      []byte
	nonce   [streamNonce]byte
	counter uint32
	buf     []byte // headerSize + SegmentSize + tagSize
	n       int    // plaintext bytes waiting in seg()
	started bool   // header already written
	closed  bool
	err     error // sticky: after a failed write the stream is unusable
}

// NewEncryptingWriter returns a writer that encrypts everything written to it
// into dst. Close must be called to write the final segment; without it the
// stream is (deliberately) unreadable as truncated. Close does not close dst.
// If a Write or ReadFrom fails, discard the writer rather than Close it, or
// the partial plaintext becomes a valid, shorter stream.
func NewEncryptingWriter(dst io.Writer, k *Key, ad []byte) (io.WriteCloser, error) {
	w := &encWriter{
		dst: dst,
		ad:  append([]byte(nil), ad...),
		buf: make([]byte, headerSize+cipherSegLen),
	}
	w.buf[0] = streamVersion
	if _, err := rand.Read(w.buf[1:headerSize]); err != nil {
		return nil, fmt.Errorf("keys: read random salt: %w", err)
	}
	copy(w.nonce[:prefixSize], w.buf[1+saltSize:headerSize])
	aead, err := streamAEAD(k, w.buf[1:1+saltSize], w.ad, streamVersion)
	if err != nil {
		return nil, fmt.Errorf("keys: stream cipher: %w", err)
	}
	w.aead = aead
	return w, nil
}

// seg is the plaintext/ciphertext area of buf.
func (w *encWriter) seg() []byte { return w.buf[headerSize:] }

var errWriteClosed = errors.New("keys: write to closed encrypting writer")

// Write buffers p and seals each full segment once more data proves it is
// not the last.
func (w *encWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errWriteClosed
	}
	total := 0
	seg := w.seg()
	for len(p) > 0 {
		if w.n == SegmentSize {
			if err := w.flush(false); err != nil {
				return total, err
			}
		}
		// Fast path for large writes: a whole segment with more data after
		// it is sealed straight from p, skipping the copy into the buffer.
		for w.n == 0 && len(p) > SegmentSize {
			if err := w.seal(p[:SegmentSize], false); err != nil {
				return total, err
			}
			total += SegmentSize
			p = p[SegmentSize:]
		}
		c := copy(seg[w.n:SegmentSize], p)
		w.n += c
		total += c
		p = p[c:]
	}
	return total, nil
}

// ReadFrom reads straight into the segment buffer, so io.Copy into the
// writer costs no extra copy. It reads one byte past a full segment to learn
// that the segment is not the last, and carries that byte over.
func (w *encWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errWriteClosed
	}
	var total int64
	seg := w.seg()
	for {
		m, err := r.Read(seg[w.n : SegmentSize+1])
		w.n += m
		total += int64(m)
		if w.n == SegmentSize+1 {
			carry := seg[SegmentSize]
			w.n = SegmentSize
			if ferr := w.flush(false); ferr != nil {
				return total, ferr
			}
			seg[0] = carry
			w.n = 1
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// flush seals the buffered plaintext in place and writes it.
func (w *encWriter) flush(last bool) error {
	if err := w.seal(w.seg()[:w.n], last); err != nil {
		return err
	}
	w.n = 0
	return nil
}

// seal encrypts pt (the buffered plaintext, or a segment of the caller's
// slice) into the segment buffer and writes it out.
func (w *encWriter) seal(pt []byte, last bool) error {
	if !last && w.counter == math.MaxUint32 {
		w.err = ErrStreamTooLarge
		return w.err
	}
	setNonce(&w.nonce, w.counter, last)
	w.aead.Seal(w.seg()[:0], w.nonce[:], pt, w.ad)
	end := headerSize + len(pt) + tagSize
	out := w.buf[headerSize:end]
	if !w.started {
		out = w.buf[:end]
	}
	if _, err := w.dst.Write(out); err != nil {
		w.err = err
		return err
	}
	w.started = true
	w.counter++
	return nil
}

// Close seals and writes the final segment (empty if the data ended on a
// segment boundary or there was none).
func (w *encWriter) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	return w.flush(true)
}

// decReader is the reader half. It reads one byte past each full segment: if
// the byte exists the segment is not the last, otherwise it must authenticate
// as the last one. That byte is carried into the next segment.
type decReader struct {
	src      io.Reader
	aead     cipher.AEAD
	ad       []byte
	nonce    [streamNonce]byte
	counter  uint32
	buf      []byte // cipherSegLen + 1
	pt       []byte // authenticated plaintext not yet returned (aliases buf)
	carry    byte
	hasCarry bool
	done     bool // the last segment has authenticated
	err      error
}

// NewDecryptingReader reads the stream header and first segment from src and
// returns a reader of the plaintext. Every failure, from a bad header to a missing final
// segment, is ErrDecrypt (errors from src are wrapped as well, so
// errors.Is(err, ErrDecrypt) holds and the cause is kept). Plaintext is only
// returned after its segment has authenticated; a truncated or extended
// stream yields its authentic segments and then ErrDecrypt instead of io.EOF,
// so callers must treat anything before an error as untrusted as a whole.
func NewDecryptingReader(src io.Reader, k *Key, ad []byte) (io.Reader, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(src, hdr[:]); err != nil {
		return nil, readErr(err)
	}
	if hdr[0] != streamVersion {
		return nil, ErrDecrypt
	}
	adc := append([]byte(nil), ad...)
	aead, err := streamAEAD(k, hdr[1:1+saltSize], adc, hdr[0])
	if err != nil {
		return nil, ErrDecrypt
	}
	r := &decReader{src: src, aead: aead, ad: adc, buf: make([]byte, cipherSegLen+1)}
	copy(r.nonce[:prefixSize], hdr[1+saltSize:])
	// Authenticate the first segment now, so a wrong key, wrong ad or
	// swapped object fails here, before a caller has committed to sending
	// a response, rather than on the first Read.
	r.next()
	if r.err != nil {
		return nil, r.err
	}
	return r, nil
}

// readErr maps a source error to ErrDecrypt, keeping real I/O errors as the
// cause (a short stream is plain ErrDecrypt: it is a truncation).
func readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrDecrypt
	}
	return fmt.Errorf("%w: read ciphertext: %w", ErrDecrypt, err)
}

// next reads and authenticates the next segment into r.pt.
func (r *decReader) next() {
	have := 0
	if r.hasCarry {
		r.buf[0] = r.carry
		have = 1
		r.hasCarry = false
	}
	m, err := io.ReadFull(r.src, r.buf[have:])
	have += m
	last := false
	switch {
	case err == nil:
		// A byte beyond a full segment: this one is not the last.
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		last = true
	default:
		r.err = readErr(err)
		return
	}
	segLen := have
	if !last {
		segLen = cipherSegLen
		if r.counter == math.MaxUint32 {
			r.err = ErrDecrypt
			return
		}
	}
	if segLen < tagSize {
		r.err = ErrDecrypt
		return
	}
	setNonce(&r.nonce, r.counter, last)
	pt, oerr := r.aead.Open(r.buf[:0], r.nonce[:], r.buf[:segLen], r.ad)
	if oerr != nil {
		r.err = ErrDecrypt
		return
	}
	if !last {
		r.carry = r.buf[cipherSegLen]
		r.hasCarry = true
	}
	r.counter++
	r.done = last
	r.pt = pt
}

// Read returns authenticated plaintext; io.EOF only after the final segment
// has authenticated.
func (r *decReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(r.pt) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		r.next()
	}
	n := copy(p, r.pt)
	r.pt = r.pt[n:]
	return n, nil
}

// WriteTo hands each authenticated segment straight to w, so io.Copy from
// the reader costs no extra copy.
func (r *decReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.pt) > 0 {
			n, err := w.Write(r.pt)
			total += int64(n)
			r.pt = r.pt[n:]
			if err == nil && len(r.pt) > 0 {
				err = io.ErrShortWrite
			}
			if err != nil {
				return total, err
			}
			continue
		}
		if r.err != nil {
			return total, r.err
		}
		if r.done {
			return total, nil
		}
		r.next()
	}
}
