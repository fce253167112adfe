package blob

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/custodia-health/custodia/internal/keys"
)

// pipeBufs batch ciphertext segments between the encrypting goroutine and Put.
var pipeBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, pipeBufSize) }}

const pipeBufSize = 512 << 10

// errPutStopped tells the encrypting goroutine that Put no longer reads.
var errPutStopped = errors.New("blob: put stopped reading")

// PutEncrypted encrypts r with k (keys.NewEncryptingWriter, associated data
// = the object name, so objects cannot be swapped or renamed) and stores the
// ciphertext under name, streaming: memory stays at a few segments whatever
// the size. A store that is a Creator (Local) gets each segment sealed and
// written straight into the object; any other store gets the ciphertext
// through a pipe into Put. It returns the plaintext size. If r or the store fails, or ctx is
// cancelled, nothing is stored. It returns only after it has stopped reading
// r, so r must unblock on its own (an HTTP request body does when the client
// goes away).
func PutEncrypted(ctx context.Context, s Store, name string, k *keys.Key, r io.Reader) (plainSize int64, err error) {
	if ValidName(name) != nil {
		return 0, invalidName("put", name)
	}
	if c, ok := s.(Creator); ok {
		o, err := c.Create(ctx, name)
		if err == nil {
			return putEncryptedInto(ctx, o, name, k, r)
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return 0, err
		}
	}
	pr, pw := io.Pipe()
	// Cancellation must reach a Put blocked reading the pipe.
	stop := context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) })
	defer stop()
	var plain int64
	done := make(chan error, 1)
	go func() {
		// Batching segments into larger pipe writes cuts the goroutine
		// hand-offs per MiB, so encryption overlaps the file writes instead
		// of waiting on them.
		bw := pipeBufs.Get().(*bufio.Writer)
		bw.Reset(pw)
		defer pipeBufs.Put(bw)
		w, err := keys.NewEncryptingWriter(bw, k, []byte(name))
		if err == nil {
			plain, err = io.Copy(w, r)
			// Close writes the final segment only after a complete copy;
			// a failed copy must not become a valid shorter object.
			if err == nil {
				err = w.Close()
			}
			if err == nil {
				err = bw.Flush()
			}
		}
		bw.Reset(nil)
		pw.CloseWithError(err) // nil: Put sees io.EOF
		done <- err
	}()
	_, err = s.Put(ctx, name, pr)
	pr.CloseWithError(errPutStopped)
	werr := <-done
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// The cancellation closed the pipe under Put, which then reports
			// a closed pipe; the cause the caller needs is the context's.
			return 0, fmt.Errorf("blob: put %s: %w", name, cerr)
		}
		return 0, err
	}
	if werr != nil {
		// Put saw a clean end of stream, so this cannot happen; be safe.
		_ = s.Delete(context.WithoutCancel(ctx), name)
		return 0, fmt.Errorf("blob: put %s: %w", name, werr)
	}
	return plain, nil
}

// putEncryptedInto encrypts r straight into o: each segment is read into the
// encrypting writer's buffer, sealed in place and written to the object, with
// no pipe, goroutine or further copy in between.
func putEncryptedInto(ctx context.Context, o PendingObject, name string, k *keys.Key, r io.Reader) (int64, error) {
	w, err := keys.NewEncryptingWriter(o, k, []byte(name))
	if err != nil {
		o.Abort()
		return 0, fmt.Errorf("blob: put %s: %w", name, err)
	}
	// io.Copy uses r's WriteTo if it has one, else the writer's ReadFrom.
	// Either way every segment goes through o.Write, which stops the copy
	// once ctx is done.
	plain, err := io.Copy(w, r)
	// Close writes the final segment only after a complete copy; a failed
	// copy must not become a valid shorter object.
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		o.Abort()
		if cerr := ctx.Err(); cerr != nil {
			return 0, fmt.Errorf("blob: put %s: %w", name, cerr)
		}
		return 0, fmt.Errorf("blob: put %s: %w", name, err)
	}
	if _, err := o.Commit(); err != nil {
		return 0, err
	}
	return plain, nil
}

// OpenEncrypted opens an object stored by PutEncrypted. The first segment is
// authenticated before it returns, so a wrong key or a swapped object fails
// here (keys.ErrDecrypt). Later tampering or truncation surfaces as
// keys.ErrDecrypt from Read: only a read that ends in io.EOF proves the
// whole object is authentic.
func OpenEncrypted(ctx context.Context, s Store, name string, k *keys.Key) (io.ReadCloser, error) {
	rc, err := s.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	dr, err := keys.NewDecryptingReader(rc, k, []byte(name))
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("blob: open %s: %w", name, err)
	}
	return &decryptedObject{r: dr, c: rc}, nil
}

type decryptedObject struct {
	r io.Reader
	c io.Closer
}

func (o *decryptedObject) Read(p []byte) (int, error) { return o.r.Read(p) }
func (o *decryptedObject) Close() error               { return o.c.Close() }

// WriteTo keeps the decrypting reader's copy-free path available to io.Copy.
func (o *decryptedObject) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := o.r.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, struct{ io.Reader }{o.r})
}
