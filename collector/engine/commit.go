package engine

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shadowdiff/shadowdiff/collector/store"
)

// commitQueue group-commits batches: writers build batches in order under
// the engine's writeMu and enqueue them; one goroutine writes everything
// queued in one transaction (one fsync for many concurrent ingests) and
// wakes the writers. When a write fails, the generation moves on: every
// batch built on the failed state fails too. A batch that cannot be built
// (Engine.buildLocked) moves it on as well. Either way the next writer
// reloads the state from the store before building.
type commitQueue struct {
	mu      sync.Mutex
	queue   []*commitReq
	gen     uint64
	stopped bool
	wake    chan struct{}
	done    chan struct{}
}

type commitReq struct {
	b    *store.Batch
	gen  uint64
	done chan error
}

func newCommitQueue() *commitQueue {
	return &commitQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (q *commitQueue) generation() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.gen
}

// enqueue queues a batch built at generation gen. Call with writeMu held.
func (q *commitQueue) enqueue(b *store.Batch, gen uint64) *commitReq {
	r := &commitReq{b: b, gen: gen, done: make(chan error, 1)}
	q.mu.Lock()
	switch {
	case q.stopped:
		r.done <- ErrClosed
	case gen != q.gen:
		r.done <- fmt.Errorf("engine: batch built on state lost by a failed store write")
	default:
		q.queue = append(q.queue, r)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return r
}

func (r *commitReq) wait() error { return <-r.done }

// runCommits writes queued batches until stop is called and the queue is empty.
func (e *Engine) runCommits() {
	q := e.cq
	defer close(q.done)
	for {
		<-q.wake
		for {
			// Let the ingest calls that are ready to run queue their
			// batches first, so they share this transaction and its
			// fsyncs: woken by the first, the writer otherwise took the
			// queue at once, and on one core nearly every batch had a
			// transaction of its own (887 for 904 in
			// BenchmarkIngestEngine/streams=16 -cpu 1; 173 with this).
			runtime.Gosched()
			q.mu.Lock()
			group := q.queue
			q.queue = nil
			stopped := q.stopped
			q.mu.Unlock()
			if len(group) > 0 {
				e.writeGroup(group)
				continue
			}
			if stopped {
				return
			}
			break
		}
	}
}

func (e *Engine) writeGroup(group []*commitReq) {
	q := e.cq
	batches := make([]*store.Batch, len(group))
	for i, r := range group {
		batches[i] = r.b
	}
	err := e.st.Apply(batches...)
	if err == nil {
		for _, r := range group {
			r.done <- nil
		}
		e.watch.poke()
		return
	}
	e.met.storeErrors.Inc()
	e.log.Error("store write failed; the state will be reloaded", "batches", len(group), "err", err)
	err = fmt.Errorf("engine: %w", err)
	q.mu.Lock()
	q.gen++
	rest := q.queue
	q.queue = nil
	q.mu.Unlock()
	for _, r := range append(group, rest...) {
		r.done <- err
	}
}

// stop ends the commit goroutine after the queued batches are written.
func (q *commitQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	<-q.done
}

// prepareWrite reloads the state from the store if the generation moved on
// since it was loaded (a failed store write or build, or a bug:
// invalidateIfSuspect, Clear). Call with writeMu held, before building a
// batch; it returns the generation the batch is built at. The batches
// queued before are written first, so that the state read back has them.
// A reload that fails or panics (a bug) returns an error and is tried
// again by the next writer.
func (e *Engine) prepareWrite() (gen uint64, err error) {
	gen = e.cq.generation()
	if gen == e.loadedGen {
		return gen, nil
	}
	defer func() {
		if r := recover(); r != nil {
			e.logPanic("reloading the state", r)
			err = fmt.Errorf("engine: internal error: %v", r)
		}
		if err != nil {
			err = fmt.Errorf("engine: reload the state: %w", err)
		}
	}()
	// Any error but ErrClosed is a failed write, which has moved the
	// generation on: it is read again below. After Close there is nothing
	// to reload.
	if err := e.barrier(); errors.Is(err, ErrClosed) {
		return 0, err
	}
	gen = e.cq.generation()
	if err := e.load(); err != nil {
		return 0, err
	}
	e.loadedGen = gen
	return gen, nil
}

// beginWrite takes writeMu and then mu, after reloading the state if it
// was given up (prepareWrite), and returns the generation to build a batch at. On
// success the caller unlocks mu once the batch is built and writeMu once it
// is queued; on error nothing is held.
func (e *Engine) beginWrite() (uint64, error) {
	e.writeMu.Lock()
	gen, err := e.prepareWrite()
	if err == nil {
		e.mu.Lock()
		if !e.closed {
			return gen, nil
		}
		e.mu.Unlock()
		err = ErrClosed
	}
	e.writeMu.Unlock()
	return 0, err
}

// buildLocked runs build with writeMu and mu held (see beginWrite) and
// releases mu, not writeMu, when it returns. build changes the state and
// returns the batch that stores the change, or nil (nothing to write, or
// the caller writes it). A build that fails leaves the state half changed:
// the next writer reloads it from the store (prepareWrite). A panic in
// build (a bug) is recovered here and returned as such a failure, so that
// the gRPC server's own recovery does not leave the locks held and hang
// every later ingest and query. (Closing one request recovers its own
// panics: writer.finalizeOrDrop.)
func (e *Engine) buildLocked(build func() (*store.Batch, error)) (b *store.Batch, err error) {
	defer func() {
		r := recover()
		e.mu.Unlock()
		if r != nil {
			e.logPanic("building a batch", r)
			// INTERNAL, not the UNAVAILABLE of a failed write: the filter
			// sends a batch refused UNAVAILABLE again, and this one would
			// panic again.
			b, err = nil, status.Errorf(codes.Internal, "engine: internal error building the batch, not stored: %v", r)
		}
		if err != nil {
			e.cq.invalidate() // prepareWrite writes what is queued before it reloads
		}
	}()
	return build()
}

// logPanic counts a recovered panic and logs it, with its stack at most
// once a minute for each place: a bug that recurs with every request or
// every tick must not flood the log.
func (e *Engine) logPanic(where string, r any, attrs ...any) {
	e.met.panics.Inc()
	e.panicLog.Lock()
	last := e.panicLog.stackAt[where]
	withStack := time.Since(last) >= time.Minute
	if withStack {
		if e.panicLog.stackAt == nil {
			e.panicLog.stackAt = map[string]time.Time{}
		}
		e.panicLog.stackAt[where] = time.Now()
	}
	e.panicLog.Unlock()
	stack := "(logged at most once a minute)"
	if withStack {
		stack = string(debug.Stack())
	}
	e.log.Error("internal error", append(attrs, "where", where, "panic", fmt.Sprint(r), "stack", stack)...)
}

// invalidateIfSuspect has the next writer reload the state if a bug may
// have left it wrong (suspect: a request dropped, a job of the loop cut
// short), at most once a minute. Call with writeMu held, after queuing the
// batch that deletes dropped requests' pending digests, so the reload does
// not bring them back.
func (e *Engine) invalidateIfSuspect() {
	if !e.suspect.Load() || time.Since(e.invalidatedAfterBug) < time.Minute {
		return
	}
	e.suspect.Store(false)
	e.invalidatedAfterBug = time.Now()
	e.cq.invalidate()
}

// locked runs f with mu held, unlocking by defer: a panic in f (a bug),
// recovered by the gRPC or HTTP server, must not leave the engine locked.
func (e *Engine) locked(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f()
}

// rlocked is locked with mu read-held.
func (e *Engine) rlocked(f func()) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	f()
}

// invalidate has the next writer reload the state from the store.
func (q *commitQueue) invalidate() {
	q.mu.Lock()
	q.gen++
	q.mu.Unlock()
}

// barrier waits until every batch queued so far is written. Call with
// writeMu held.
func (e *Engine) barrier() error {
	return e.cq.enqueue(&store.Batch{}, e.cq.generation()).wait()
}
