package envoy

import (
	"errors"
	"io"
	"net/http"
	"sync"
)

// errBodyAborted ends an upstream request body whose downstream stream
// ended before its body was complete.
var errBodyAborted = errors.New("downstream request body aborted")

// bodyQueue is an upstream request body fed chunk by chunk by the stream
// while the HTTP transport reads it: the request body streams upstream as
// it arrives. Push never blocks; the stream watches Len to apply
// backpressure (primary) or to drop a lagging mirror.
type bodyQueue struct {
	mu      sync.Mutex
	cond    sync.Cond
	chunks  [][]byte
	size    int
	err     error // io.EOF once complete, or why it was aborted
	gone    bool  // the reader closed it
	drained func()
	// trailer is the request's Trailer map: the transport reads it once the
	// body returns EOF, so pending trailers are copied in on the reader's
	// goroutine, just before that EOF.
	trailer, pending http.Header
}

// newBodyQueue returns a queue; drained, if set, runs (from the reader's
// goroutine) whenever a read empties it.
func newBodyQueue(drained func()) *bodyQueue {
	q := &bodyQueue{drained: drained}
	q.cond.L = &q.mu
	return q
}

// Push appends a chunk; it reports false if the reader is gone or the
// queue was finished.
func (q *bodyQueue) Push(b []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.gone || q.err != nil {
		return false
	}
	if len(b) > 0 {
		q.chunks = append(q.chunks, b)
		q.size += len(b)
		q.cond.Signal()
	}
	return true
}

// Finish ends the body: err nil means complete (io.EOF to the reader).
func (q *bodyQueue) Finish(err error) {
	if err == nil {
		err = io.EOF
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err == nil {
		q.err = err
		q.cond.Broadcast()
	}
}

// FinishWithTrailer completes the body with trailers.
func (q *bodyQueue) FinishWithTrailer(t http.Header) {
	q.mu.Lock()
	q.pending = t
	q.mu.Unlock()
	q.Finish(nil)
}

// Len is the number of bytes queued but not yet read.
func (q *bodyQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.size
}

// Read implements io.Reader for the HTTP transport.
func (q *bodyQueue) Read(p []byte) (int, error) {
	q.mu.Lock()
	for len(q.chunks) == 0 && q.err == nil && !q.gone {
		q.cond.Wait()
	}
	if q.gone {
		q.mu.Unlock()
		return 0, io.ErrClosedPipe
	}
	if len(q.chunks) == 0 {
		err := q.err
		if err == io.EOF && q.trailer != nil {
			for k, v := range q.pending {
				q.trailer[k] = v
			}
			q.pending = nil
		}
		q.mu.Unlock()
		return 0, err
	}
	n := copy(p, q.chunks[0])
	if n == len(q.chunks[0]) {
		q.chunks[0] = nil
		q.chunks = q.chunks[1:]
	} else {
		q.chunks[0] = q.chunks[0][n:]
	}
	q.size -= n
	empty := q.size == 0
	q.mu.Unlock()
	if empty && q.drained != nil {
		q.drained()
	}
	return n, nil
}

// Close implements io.Closer: the transport is done with the body.
func (q *bodyQueue) Close() error {
	q.mu.Lock()
	q.gone = true
	q.chunks, q.size = nil, 0
	q.cond.Broadcast()
	q.mu.Unlock()
	if q.drained != nil {
		q.drained()
	}
	return nil
}
