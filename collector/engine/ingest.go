package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// ErrClosed is returned by calls on a closed engine.
var ErrClosed = errors.New("engine: closed")

// Ingest validates each digest; invalid ones are rejected with a reason
// (index into ds), valid ones are stored durably before it returns. err
// only for internal failures (store I/O); then nothing of ds is promised.
// The engine keeps the digests: callers must not modify them afterwards
// (Ingest itself sorts their fields and headers in place).
func (e *Engine) Ingest(ctx context.Context, ds []*shadowdiffv1.ResponseDigest) (accepted int, rejected []*shadowdiffv1.Rejection, err error) {
	return e.ingest(ctx, ds, nil)
}

// IngestEncoded is Ingest for digests received in wire form: wire[i] is
// the protobuf encoding of ds[i], except that ds[i] may come without its
// body fields (Body.Fields empty): the engine then reads them from wire[i]
// into its own form, which costs far less than decoding them into
// messages. A digest that waits for its other roles is stored as wire[i]
// instead of being encoded again. The engine does not keep wire's slices
// once it returns.
func (e *Engine) IngestEncoded(ctx context.Context, ds []*shadowdiffv1.ResponseDigest, wire [][]byte) (accepted int, rejected []*shadowdiffv1.Rejection, err error) {
	if len(wire) != len(ds) {
		return 0, nil, fmt.Errorf("engine: %d encodings for %d digests", len(wire), len(ds))
	}
	return e.ingest(ctx, ds, wire)
}

// ingest is Ingest; wire, when not nil, holds the encodings of ds.
func (e *Engine) ingest(ctx context.Context, ds []*shadowdiffv1.ResponseDigest, wire [][]byte) (accepted int, rejected []*shadowdiffv1.Rejection, err error) {
	start := time.Now()
	valid := make([]freshDigest, 0, len(ds))
	for i, d := range ds {
		f := freshDigest{d: d}
		if wire != nil {
			f.wire = wire[i]
		}
		err := f.read(e.bodyFields)
		if err == nil {
			sortDigest(d)
			err = validate(d, true)
		}
		if err == nil && f.fields != nil && !f.checked {
			err = validateFlat(f.fields)
		}
		if err != nil {
			rejected = append(rejected, &shadowdiffv1.Rejection{Index: uint32(i), Reason: err.Error()})
			reason := "digest"
			var ve *ValidationError
			if errors.As(err, &ve) {
				reason = ve.Field
			}
			e.met.rejected.WithLabelValues(reason).Inc()
			e.met.digests.WithLabelValues(roleLabel(d.GetRole()), "rejected").Inc()
			e.bodyFields.recycle(f.fields)
			continue
		}
		valid = append(valid, f)
	}
	if len(valid) == 0 {
		return 0, rejected, nil
	}
	if err := ctx.Err(); err != nil {
		e.recycleFresh(valid)
		return 0, rejected, err
	}
	gen, err := e.beginWrite()
	if err != nil {
		e.recycleFresh(valid)
		return 0, rejected, err
	}
	batch, err := e.buildLocked(func() (*store.Batch, error) { return e.offerAll(valid, e.opts.Now()) })
	if err != nil {
		e.writeMu.Unlock()
		return 0, rejected, err
	}
	req := e.cq.enqueue(batch, gen)
	e.invalidateIfSuspect()
	e.writeMu.Unlock()
	if err := req.wait(); err != nil {
		return 0, rejected, err
	}
	e.met.ingestSeconds.Observe(time.Since(start).Seconds())
	return len(valid), rejected, nil
}

// offerAll pairs the digests of an ingest and returns the batch that stores
// what they changed. Call with mu held.
func (e *Engine) offerAll(valid []freshDigest, now time.Time) (*store.Batch, error) {
	w := newWriter(e)
	var closed []closedReq
	for _, f := range valid {
		d := f.d
		if d.Role == secondary {
			// From now on the endpoint's requests wait for their secondary,
			// skipped ones too: a side effect's secondary, answered by its
			// filter, arrived after the request closed and counted as late.
			e.secondarySeen[e.endpoints.of(d).key] = true
		}
		var res offerResult
		var r *pendingReq
		res, r, closed = e.pairer.offer(d, now, closed)
		if res == offerPending || res == offerCompleted {
			if f.fields != nil {
				r.fields[d.Role] = f.fields
			}
		} else {
			e.bodyFields.recycle(f.fields)
		}
		switch res {
		case offerPending:
			w.pending[d.PairingKey] = append(w.pending[d.PairingKey], f)
		case offerDuplicate:
			// Counted at once, in the bucket the request is (or will be)
			// counted in, so the count is stored with the acknowledgement:
			// kept with an open request until it closed, it was lost with
			// a restart. A retry of a request already closed has only its
			// endpoint, without a start time: it counts now, or once its
			// request is finalized when it closed in this very call.
			switch {
			case r.closedAs != nil && r.closedAs.key != "":
				e.aggs.bucket(*r.closedAs, now).Counts.Duplicates++
			case r.closedAs != nil:
				w.closedDups = append(w.closedDups, r.key)
			default:
				e.aggs.bucket(e.endpoints.of(r.first()), e.requestTime(r, now)).Counts.Duplicates++
			}
		case offerLate:
		}
		w.digests[d.Role][res]++
	}
	batch, err := w.finish(closed, now)
	// A rule learned from these digests is stored before the batch whose
	// records carry its endpoint name: after a crash between the two
	// writes, records would name a rule the collector no longer has.
	e.saveLearnedLocked()
	return batch, err
}

// recycleFresh hands back the fields of digests that were read but not
// offered.
func (e *Engine) recycleFresh(fs []freshDigest) {
	for _, f := range fs {
		e.bodyFields.recycle(f.fields)
	}
}

// expire closes the requests whose window ended.
func (e *Engine) expire() error {
	gen, err := e.beginWrite()
	if err != nil {
		return err
	}
	defer e.writeMu.Unlock()
	batch, err := e.buildLocked(func() (*store.Batch, error) {
		now := e.opts.Now()
		closed := e.pairer.expire(now, nil)
		if len(closed) == 0 {
			return nil, nil
		}
		batch, err := newWriter(e).finish(closed, now)
		e.saveLearnedLocked() // as in ingest
		return batch, err
	})
	if err != nil || batch == nil {
		return err
	}
	req := e.cq.enqueue(batch, gen)
	e.invalidateIfSuspect()
	return req.wait()
}

func roleLabel(r shadowdiffv1.Role) string {
	switch r {
	case primary:
		return "primary"
	case secondary:
		return "secondary"
	case candidate:
		return "candidate"
	}
	return "unspecified"
}

func resultLabel(r offerResult) string {
	switch r {
	case offerDuplicate:
		return "duplicate"
	case offerLate:
		return "late"
	}
	return "accepted"
}

// writer collects what one ingest or expiry writes. Used under e.mu.
type writer struct {
	e *Engine
	// pending: digests of this call still waiting, by key; written at the
	// end unless their request closed within the same call.
	pending map[string][]freshDigest
	b       store.Batch
	fin     *finalizeScratch
	// Metrics counted per call and added once in finish: a counter looked
	// up by its labels per digest and request cost ~2% of ingest.
	digests  [numRoles][offerLate + 1]float64
	requests map[requestOutcome]float64
	outcomes []requestOutcome // requests' keys in the order first counted
	// closedDups: keys of duplicates of requests closed by this call,
	// counted once those are finalized (their endpoint is known then).
	closedDups []string
}

// requestOutcome labels a closed request (metrics.requests).
type requestOutcome struct{ endpoint, outcome string }

// countRequest counts a closed request for the metrics.
func (w *writer) countRequest(endpoint, outcome string) {
	o := requestOutcome{endpoint, outcome}
	if _, ok := w.requests[o]; !ok {
		w.outcomes = append(w.outcomes, o)
	}
	w.requests[o]++
}

// finalizeScratch is the memory finalize reuses from one request to the
// next (and from one call to the next: it belongs to the engine, under
// mu): the flat body fields of the digests of a closing request that
// arrived in the same call, per role, and the request's comparison.
type finalizeScratch struct {
	fields [numRoles][]flatEntry
	cmp    comparison
}

// freshDigest is a digest of the current call, with its encoding when
// the caller had it, and its body fields read from that encoding when the
// digest came without them.
type freshDigest struct {
	d      *shadowdiffv1.ResponseDigest
	wire   []byte
	fields []flatEntry // sorted by path
	// checked says fields passed validateFlat's checks as they were read.
	checked bool
}

// read fills fields from the encoding of a digest that has a body but no
// body fields.
func (f *freshDigest) read(src *fieldSource) error {
	if f.wire == nil || f.d.GetBody() == nil || len(f.d.Body.Fields) > 0 {
		return nil
	}
	fields, checked, err := src.read(f.wire)
	if err != nil {
		return invalid("body.fields", "undecodable: %v", err)
	}
	f.fields, f.checked = fields, checked
	return nil
}

func newWriter(e *Engine) *writer {
	return &writer{e: e, pending: map[string][]freshDigest{}, fin: &e.fin, requests: map[requestOutcome]float64{}}
}

// finish finalizes the requests just closed and returns the batch to
// write. Call with mu held.
func (w *writer) finish(closed []closedReq, now time.Time) (*store.Batch, error) {
	for _, c := range closed {
		w.finalizeOrDrop(c, now)
	}
	for _, key := range w.closedDups {
		if rec, ok := w.e.pairer.remembered(key); ok && rec.endpoint.key != "" {
			w.e.aggs.bucket(rec.endpoint, now).Counts.Duplicates++
		}
	}
	b, err := w.batch()
	w.countMetrics()
	return b, err
}

// finalizeOrDrop finalizes a closed request. If finalize panics (a bug),
// the request is dropped instead: the records and samples it added to the
// batch are cut off, its pending digests deleted, the finalize scratch
// reset, and the state marked suspect (invalidateIfSuspect). Refusing the
// batch would not help: the request is still pending in the store, so
// every reload would bring back the same panic at its next close. What
// finalize already counted in the aggregates stays counted: undoing it
// would mean copying each bucket before every close. Logged with the
// request's key and counted.
func (w *writer) finalizeOrDrop(c closedReq, now time.Time) {
	records, samples, full := len(w.b.Records), len(w.b.Samples), len(w.b.Full)
	defer func() {
		if r := recover(); r != nil {
			w.e.logPanic("closing a request (dropped)", r, "pairing_key", c.req.key)
			w.b.Records, w.b.Samples, w.b.Full = w.b.Records[:records], w.b.Samples[:samples], w.b.Full[:full]
			*w.fin = finalizeScratch{}
			w.release(c.req) // finalize may not have: deleting a pending digest twice does nothing
			w.e.suspect.Store(true)
		}
	}()
	w.finalize(c, now)
}

// countMetrics adds what the call counted to the engine's metrics.
func (w *writer) countMetrics() {
	m := w.e.met
	for role := range w.digests {
		for res, n := range w.digests[role] {
			if n > 0 {
				m.digests.WithLabelValues(roleLabel(shadowdiffv1.Role(role)), resultLabel(offerResult(res))).Add(n)
			}
		}
	}
	// In the order requests closed, so that which endpoints get labels
	// before the cap does not depend on map order.
	for _, o := range w.outcomes {
		m.requests.WithLabelValues(m.endpoint(o.endpoint), o.outcome).Add(w.requests[o])
	}
	m.pending.Set(float64(w.e.pairer.len()))
	m.endpoints.Set(float64(len(w.e.aggs.eps)))
}

// batch finishes the write: pending digests and dirty buckets. A pending
// digest is encoded for the store and kept in memory in slim form.
func (w *writer) batch() (*store.Batch, error) {
	for key, ds := range w.pending {
		r := w.e.pairer.pending[key]
		for _, f := range ds {
			d, data := f.d, f.wire
			if f.fields == nil {
				// Already slim (read from the encoding, paths shared) otherwise.
				r.digests[d.Role], r.fields[d.Role] = slim(d, w.e.paths)
			}
			if data == nil {
				var err error
				if data, err = d.MarshalVT(); err != nil {
					return nil, fmt.Errorf("engine: encode digest %q: %w", key, err)
				}
			}
			w.b.PutPending = append(w.b.PutPending, store.PendingDigest{Key: key, Role: d.Role, ArrivalNano: r.arrival.UnixNano(), Digest: data})
		}
	}
	// Copies: the commit goroutine encodes them while new ingests go on.
	for _, b := range w.e.aggs.takeDirty() {
		w.b.Buckets = append(w.b.Buckets, b.Clone())
	}
	return &w.b, nil
}

// release drops the pending digests of a closed request: those written by
// earlier calls are deleted, those of this call never written.
func (w *writer) release(r *pendingReq) {
	fresh := w.pending[r.key]
	delete(w.pending, r.key)
	for role, d := range r.digests {
		if d == nil {
			continue
		}
		isFresh := false
		for _, f := range fresh {
			if f.d == d {
				isFresh = true
			}
		}
		if !isFresh {
			w.b.DeletePending = append(w.b.DeletePending, store.PendingRef{Key: r.key, Role: shadowdiffv1.Role(role)})
		}
	}
}
