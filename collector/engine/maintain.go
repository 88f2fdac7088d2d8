package engine

import (
	"fmt"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/store"
)

// maintain rolls old minute buckets up into hour buckets and deletes what
// is older than the retention.
func (e *Engine) maintain() error {
	gen, err := e.beginWrite()
	if err != nil {
		return err
	}
	defer e.writeMu.Unlock()
	now := e.opts.Now()
	cut := now.Add(-e.opts.Retention)
	var put []*store.Bucket
	var del []store.BucketRef
	if _, err := e.buildLocked(func() (*store.Batch, error) {
		put, del = e.aggs.rollup(now.Add(-rollupAfter))
		if e.aggs.dropBefore(cut) > 0 {
			e.endpoints.forget() // their names may be admitted again
			// And forget which of them had secondaries, which would
			// otherwise grow by up to --max-endpoints names each
			// retention period; one secondary sets it again.
			for ep := range e.secondarySeen {
				if e.aggs.eps[ep] == nil {
					delete(e.secondarySeen, ep)
				}
			}
		}
		e.pruneSampled(cut)
		e.met.endpoints.Set(float64(len(e.aggs.eps)))
		return nil, nil // written below, copied outside the lock
	}); err != nil {
		return fmt.Errorf("roll up buckets: %w", err)
	}
	// Copied outside mu: writeMu keeps writers out meanwhile.
	for i, b := range put {
		put[i] = b.Clone()
	}
	// Also a barrier: retention below runs after every queued batch.
	if err := e.cq.enqueue(&store.Batch{Buckets: put, DeleteBuckets: del}, gen).wait(); err != nil {
		return fmt.Errorf("roll up buckets: %w", err)
	}
	n, err := e.st.DeleteBefore(cut)
	if err != nil {
		e.met.storeErrors.Inc()
		return fmt.Errorf("engine: retention: %w", err)
	}
	if n > 0 || len(del) > 0 {
		e.log.Info("maintenance", "records_deleted", n, "buckets_rolled_up", len(del))
	}
	// The watch loop computes the views retention changed now, not the
	// next query.
	e.watch.poke()
	return nil
}

// pruneSampled forgets the sampling state of fields whose samples
// retention deleted (before cut): the state of a field paces the samples
// the store holds. An endpoint retention dropped goes whole: its buckets
// ended by the cut, so did every sample in them.
func (e *Engine) pruneSampled(cut time.Time) {
	c := cut.UnixNano()
	for ep, s := range e.sampled {
		had := len(s.byPath)
		for path, fs := range s.byPath {
			if fs.last() < c {
				delete(s.byPath, path)
			}
		}
		switch {
		case len(s.byPath) == 0:
			delete(e.sampled, ep)
		case len(s.byPath) < had/4:
			// A map does not shrink, nor does maps.Clone copy it
			// smaller: copied entry by entry, the fields of a burst
			// of id-keyed responses stop holding memory.
			kept := make(map[string]fieldSampling, len(s.byPath))
			for path, fs := range s.byPath {
				kept[path] = fs
			}
			s.byPath = kept
		}
	}
}
