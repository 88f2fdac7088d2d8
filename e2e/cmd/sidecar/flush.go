package main

import (
	"bufio"
	"context"
	"io"
	"sync"
	"time"
)

// flushWriter buffers access log records and writes them out every interval
// and at close, as Envoy does for its access log files
// (--file-flush-interval-msec): one write per request per listener costs a
// system call on the request path.
type flushWriter struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop context.CancelFunc
	done chan struct{}
}

func newFlushWriter(w io.Writer, interval time.Duration) *flushWriter {
	ctx, stop := context.WithCancel(context.Background())
	f := &flushWriter{buf: bufio.NewWriterSize(w, 64<<10), stop: stop, done: make(chan struct{})}
	go f.loop(ctx, interval)
	return f
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.Write(p)
}

func (f *flushWriter) flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.Flush()
}

func (f *flushWriter) loop(ctx context.Context, interval time.Duration) {
	defer close(f.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = f.flush()
		}
	}
}

// Close stops the timer and writes out what is buffered.
func (f *flushWriter) Close() error {
	f.stop()
	<-f.done
	return f.flush()
}
