package media

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// liveAnswers counts completions answered by live validation (tests check
// which path ran).
var liveAnswers atomic.Int64

// Live validation: an upload whose chunks all arrive at this process, in
// order, is validated as its bytes go by, on a goroutine of its own that
// overlaps the encryption and the disk writes. Complete then has the answer
// without reading the whole file back and decrypting it a second time. If
// anything disturbs the stream (a failed or retried chunk, a restart, a
// parser that opens the file twice past its head), the live result is
// dropped and Complete validates from the stored parts as before, so the
// answer is always the one a full validation gives.

// liveHead is how much of the file's start is kept in memory: every parser
// may reopen and reread this much (the sniffer reads the head, then the
// parser starts over).
const liveHead = 1 << 20

var (
	errLiveReopen = errors.New("media: live validation needs to reread the file")
	errLiveBroken = errors.New("media: the live validation stream was interrupted")
)

// liveBatch is how many bytes the feeder gathers before handing them to
// the validator, and liveQueue how many batches may wait: the writer runs
// ahead of the validator by up to liveBatch*liveQueue bytes instead of
// meeting it for every 64 KiB read (which, on a busy machine, cost a
// scheduler round trip each).
const (
	liveBatch = 1 << 20
	liveQueue = 8
)

// liveSource is a Source fed by PutChunk. Readers may reread the head as
// often as they like; past the head, only one reader may go on, in order.
type liveSource struct {
	size int64

	feedMu  sync.Mutex // one feeder at a time (concurrent chunks break the stream anyway)
	pending []byte     // bytes past the head not yet queued
	queue   chan []byte
	free    chan []byte   // batches the reader is done with, for the feeder to refill
	quit    chan struct{} // closed by stop or when the validator is done
	quitter sync.Once

	mu       sync.Mutex
	cond     *sync.Cond
	head     []byte
	fed      int64 // bytes fed so far
	consumed int64 // bytes past the head read by the reader
	closed   error // set when the feeder stops: io.EOF after the last byte, or why it broke
	// disturbed: a reader got an error other than the end of the file, or
	// the feed broke; the validator's answer is then not the file's.
	disturbed bool

	cur     []byte // the reader's current batch, what is left of it
	curBase []byte // the whole batch, to hand back to free
}

// liveValidation runs Validate over a liveSource.
type liveValidation struct {
	src  *liveSource
	done chan struct{}
	info Info
	err  error
}

func newLiveSource(size int64) *liveSource {
	src := &liveSource{size: size, queue: make(chan []byte, liveQueue), free: make(chan []byte, liveQueue+2), quit: make(chan struct{})}
	src.cond = sync.NewCond(&src.mu)
	return src
}

func startLive(size int64, slot Slot, lim Limits) *liveValidation {
	src := newLiveSource(size)
	lv := &liveValidation{src: src, done: make(chan struct{})}
	go func() {
		defer close(lv.done)
		lv.info, lv.err = Validate(src, slot, lim)
		// The feeder must never wait for a reader that has gone.
		src.quitter.Do(func() { close(src.quit) })
	}()
	return lv
}

func (s *liveSource) Size() int64 { return s.size }

func (s *liveSource) Open() (io.ReadCloser, error) { return &liveReader{s: s}, nil }

// feed passes p (the next bytes of the file) to the validator, copying
// it. It never fails: a validator that stopped reading just stops being
// fed.
func (s *liveSource) feed(p []byte) {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	p, last, ok := s.takeHead(p)
	if !ok {
		return
	}
	for len(p) > 0 || (last && len(s.pending) > 0) {
		if s.pending == nil {
			s.pending = s.batch()
		}
		k := min(liveBatch-len(s.pending), len(p))
		s.pending = append(s.pending, p[:k]...)
		p = p[k:]
		if len(s.pending) < liveBatch && !(last && len(p) == 0) {
			break
		}
		b := s.pending
		s.pending = nil
		if !s.enqueue(b) {
			return
		}
	}
	if last {
		s.end()
	}
}

// handOff passes b (the next bytes of the file, in a buffer from batch)
// to the validator without copying it: b belongs to the validator from now
// on.
func (s *liveSource) handOff(b []byte) {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	rest, last, ok := s.takeHead(b)
	if !ok {
		return
	}
	if len(s.pending) > 0 {
		// Bytes fed by copy come first.
		p := s.pending
		s.pending = nil
		if !s.enqueue(p) {
			return
		}
	}
	if len(rest) > 0 && !s.enqueue(rest) {
		return
	}
	if last {
		s.end()
	}
}

// takeHead copies what p holds of the head into it, counts p as fed and
// returns the rest; ok is false once the feed has ended.
func (s *liveSource) takeHead(p []byte) (rest []byte, last, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed != nil {
		return nil, false, false
	}
	if room := liveHead - len(s.head); room > 0 {
		k := min(room, len(p))
		s.head = append(s.head, p[:k]...)
		p = p[k:]
		s.fed += int64(k)
		s.cond.Broadcast()
	}
	s.fed += int64(len(p))
	return p, s.fed >= s.size, true
}

// enqueue hands b to the reader; false if the validator has stopped.
func (s *liveSource) enqueue(b []byte) bool {
	select {
	case s.queue <- b:
		return true
	case <-s.quit:
		return false
	}
}

// end closes the feed after the file's last byte.
func (s *liveSource) end() {
	s.mu.Lock()
	if s.closed == nil {
		s.closed = io.EOF
		close(s.queue)
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

// batch returns an empty batch buffer: one the reader handed back, or a
// new one. Reusing them saves allocating, zeroing and faulting in a fresh
// MiB for every MiB of the upload.
func (s *liveSource) batch() []byte {
	select {
	case b := <-s.free:
		return b[:0]
	default:
		return make([]byte, 0, liveBatch)
	}
}

// recycle offers a batch buffer the reader is done with for reuse. Only
// whole ones are kept (the batch that held the end of the head is a tail of
// one).
func (s *liveSource) recycle(b []byte) {
	if cap(b) != liveBatch {
		return
	}
	select {
	case s.free <- b[:0]:
	default:
	}
}

// stop ends the feed with err (errLiveBroken: the stream is no longer the
// file's bytes).
func (s *liveSource) stop(err error) {
	s.mu.Lock()
	if s.closed == nil || s.closed == io.EOF {
		s.closed = err
	}
	s.disturbed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	s.quitter.Do(func() { close(s.quit) })
}

type liveReader struct {
	s   *liveSource
	pos int64
}

func (r *liveReader) Read(b []byte) (int, error) {
	n, err := r.read(b)
	if err != nil && err != io.EOF {
		r.s.mu.Lock()
		r.s.disturbed = true
		r.s.mu.Unlock()
	}
	return n, err
}

func (r *liveReader) read(b []byte) (int, error) {
	s := r.s
	if r.pos >= s.size {
		return 0, io.EOF
	}
	if r.pos < liveHead {
		s.mu.Lock()
		for int64(len(s.head)) <= r.pos && s.closed == nil {
			s.cond.Wait()
		}
		if int64(len(s.head)) <= r.pos {
			err := s.closed
			s.mu.Unlock()
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		n := copy(b, s.head[r.pos:])
		s.mu.Unlock()
		r.pos += int64(n)
		return n, nil
	}
	s.mu.Lock()
	ok := r.pos == liveHead+s.consumed
	s.mu.Unlock()
	if !ok {
		return 0, errLiveReopen
	}
	if len(s.cur) == 0 {
		if s.curBase != nil {
			s.recycle(s.curBase)
			s.curBase = nil
		}
		select {
		case bt, open := <-s.queue:
			if !open {
				return 0, io.ErrUnexpectedEOF // r.pos < size, yet the feed ended
			}
			s.cur, s.curBase = bt, bt
		case <-s.quit:
			return 0, errLiveBroken
		}
	}
	n := copy(b, s.cur)
	s.cur = s.cur[n:]
	s.mu.Lock()
	s.consumed += int64(n)
	s.mu.Unlock()
	r.pos += int64(n)
	return n, nil
}

func (r *liveReader) Close() error { return nil }

// result waits for the validator and returns its answer, or ok false if
// the answer is not to be trusted (the stream broke, or the parser needed
// to reread past the head): then the caller validates from the stored
// parts. An undisturbed answer is the file's: the parser saw exactly the
// file's bytes, in order, and nothing else.
func (lv *liveValidation) result() (info Info, ok bool, err error) {
	<-lv.done
	lv.src.mu.Lock()
	disturbed := lv.src.disturbed
	lv.src.mu.Unlock()
	if disturbed {
		return Info{}, false, nil
	}
	return lv.info, true, lv.err
}

// liveTee is a chunk's body on its way to the encrypting writer: what is
// read from r goes to the live validation too.
type liveTee struct {
	r    io.Reader
	src  *liveSource
	left int64 // at most this many bytes are still to come from r
}

// Read feeds a copy of what it reads.
func (t *liveTee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.src.feed(p[:n])
	}
	return n, err
}

// WriteTo (which io.Copy prefers) reads r in batches into the validation's
// buffers, writes each batch to w and then hands the buffer itself to the
// validator: no copy for it. The encrypting writer seals whole segments
// from the batch into its own buffer, so it does not keep or change it.
func (t *liveTee) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		var b []byte
		if t.left >= liveBatch {
			b = t.src.batch()[:liveBatch]
		} else {
			// A short chunk (a small file) gets a buffer of its size, not
			// a whole batch.
			b = make([]byte, max(t.left, 1))
		}
		n := 0
		var err error
		for n < len(b) && err == nil {
			var m int
			m, err = t.r.Read(b[n:])
			n += m
		}
		t.left -= int64(n)
		if n > 0 {
			m, werr := w.Write(b[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
			t.src.handOff(b[:n])
		} else {
			t.src.recycle(b)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// teeWriter feeds what PutChunk reads to the live validation.
type teeWriter struct{ s *liveSource }

func (t teeWriter) Write(p []byte) (int, error) {
	t.s.feed(p)
	return len(p), nil
}
