package outreach_test

import (
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
	"sync"
)

func encode(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newLogger(b *strings.Builder, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{b, mu}, nil))
}
