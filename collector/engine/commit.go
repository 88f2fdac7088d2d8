package engine

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/store"
)

// commitQueue group-commits batches: writers build batches in order under
// the engine's writeMu and enqueue them; one goroutine writes everything
// queued in one transaction (one fsync for many concurrent ingests) and
// wakes the writers. When a write fails, or a batch cannot be built
// (Engine.buildLocked), the generation moves on: every batch built on the
// failed state fails too, and the next writer reloads the state from the
// store before building.
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
		r.done <- fmt.Errorf("engine: batch built on a state given up since (a failed store write or an internal error)")
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

// prepareWrite reloads the state after a failed store write or build, or
// a panic. Call with writeMu held, before building a batch; it returns the
// generation the batch is built at. The batches queued before are written
// first, so that the state read back has them. A reload that fails or
// panics (a bug) returns an error and is tried again by the next writer.
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
	// A failed write moves the generation on by itself; a stopped queue
	// (Close) leaves nothing to reload for.
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

// beginWrite takes writeMu and then mu, after reloading the state if a
// store write failed, and returns the generation to build a batch at. On
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

// buildLocked runs build, which changes the state and returns the batch
// that stores the change, with writeMu and mu held (see beginWrite), and
// releases mu; writeMu stays held. A build that fails leaves the state half
// changed: the next writer reloads the state from the store, as after a
// failed store write (prepareWrite). A panic in build (a bug), recovered by
// the gRPC server with the locks held, hung every later ingest and query:
// it is logged, counted and returned as such a failure. (Closing one
// request recovers its own panics: writer.finalizeOrDrop.)
func (e *Engine) buildLocked(build func() (*store.Batch, error)) (b *store.Batch, err error) {
	defer func() {
		r := recover()
		e.mu.Unlock()
		if r != nil {
			e.logPanic("building a batch (refused; the state will be reloaded from the store)", r)
			b, err = nil, fmt.Errorf("engine: internal error: %v", r)
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
	e.log.Error("internal error "+where, append(attrs, "panic", fmt.Sprint(r), "stack", stack)...)
}

// reloadIfDue has the next writer reload the state from the store when a
// bug may have left it wrong (a request dropped, a job of the loop cut
// short: suspect), at most once a minute, so that a bug that recurs with
// every request or tick does not reload it every time. Call with writeMu
// held, after the batch that deletes the pending digests of dropped
// requests is queued: the reload writes it first (prepareWrite) and does
// not bring them back.
func (e *Engine) reloadIfDue() {
	if !e.suspect.Load() || time.Since(e.reloadedAfterBug) < time.Minute {
		return
	}
	e.suspect.Store(false)
	e.reloadedAfterBug = time.Now()
	e.cq.invalidate()
}

// locked runs f with mu held and rlocked with mu read-held, unlocking by
// defer: a panic in f (a bug), recovered by the gRPC or HTTP server, must
// not leave the engine locked.
func (e *Engine) locked(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f()
}

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
