package engine

import (
	"sync"

	"github.com/shadowdiff/shadowdiff/collector/store"
)

// Queries add buckets up. An endpoint's sum over all its buckets is
// cached and kept up to date by growth: a writer about to change a bucket
// that is in the sum first keeps a snapshot of it (behind), and the next
// query adds what the bucket gained since. Before, the sum covered
// only buckets that ended five minutes ago and every query merged the
// recent ones again: ~100 µs per busy endpoint, 100 ms for an overview of
// a thousand. A rollup regroups buckets without changing their sum, so it
// keeps the cache; retention, which takes buckets out, rebuilds it.
const sumSignCap = maxSignatures * 4

// sumCache is the sum of all an endpoint's buckets, each as it was when
// last added. Writers (holding the engine's write lock) record the
// buckets they touch; readers (holding the read lock) bring the sum up to
// date under mu.
type sumCache struct {
	mu       sync.Mutex
	valid    bool
	sum      *store.Bucket
	requests uint64 // requests + duplicates in sum
	// behind holds, by start, snapshots of the buckets written since they
	// were added to sum, as they were then (empty for a bucket made since).
	behind map[int64]*store.Snapshot
}

func (c *sumCache) invalidate() {
	c.mu.Lock()
	c.valid = false
	c.mu.Unlock()
}

// touched notes that b is about to change. Called by writers before they
// change it; the first call since the sum was brought up to date keeps a
// snapshot of b (a few per endpoint and query).
func (c *sumCache) touched(b *store.Bucket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid {
		return
	}
	if _, ok := c.behind[b.StartUnix]; !ok {
		c.behind[b.StartUnix] = b.Snapshot()
	}
}

func (ea *endpointAgg) emptySum() *store.Bucket {
	return &store.Bucket{Endpoint: ea.key, Method: ea.method, PathTemplate: ea.pathTemplate, RouteName: ea.routeName}
}

// refresh rebuilds the cache when invalid, else brings it up to date with
// the growth of the buckets written since. Called with c.mu held.
func (ea *endpointAgg) refresh() {
	c := &ea.cache
	if !c.valid {
		c.sum, c.requests = ea.emptySum(), 0
		if c.behind == nil {
			c.behind = map[int64]*store.Snapshot{}
		}
		clear(c.behind)
		for _, b := range ea.buckets {
			c.sum.Merge(b, sumSignCap)
			c.requests += b.Counts.Requests + b.Counts.Duplicates
		}
		c.valid = true
		return
	}
	for s, was := range c.behind {
		b := ea.buckets[s]
		if b == nil { // rollups and retention see to it that it is there
			c.valid = false
			ea.refresh()
			return
		}
		c.sum.MergeGrowth(b, was, sumSignCap, nil)
		c.requests += b.Counts.Requests + b.Counts.Duplicates - was.Requests()
		delete(c.behind, s)
	}
}

// lockedCache locks the cache and brings it up to date. If refresh panics
// (a bug), the cache is invalidated and unlocked, so that a recovered panic
// does not hang the next writer to the endpoint.
func (ea *endpointAgg) lockedCache() *sumCache {
	c := &ea.cache
	c.mu.Lock()
	ok := false
	defer func() {
		if !ok {
			c.valid = false
			c.mu.Unlock()
		}
	}()
	ea.refresh()
	ok = true
	return c
}

// rolledUp keeps the cache across a rollup of the endpoint's minute
// buckets (starts) into hour buckets (hours): their sum is the same. It is
// rebuilt when the rollup was not exact (an hour bucket, with fewer
// signatures than the sum may keep, counted some in its overflow), and
// when a bucket written since the sum was brought up to date had growth
// that is now in another bucket. (The window sum, which a rollup rarely
// touches, is built again instead: windowSum.rolledUp.)
// Called with the engine's write lock held.
func (c *sumCache) rolledUp(starts []int64, hours map[int64]*store.Bucket, exact bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid {
		return
	}
	if !exact {
		c.valid = false
		return
	}
	for _, s := range starts {
		if _, ok := c.behind[s]; ok {
			c.valid = false
			return
		}
	}
	for s := range hours {
		if _, ok := c.behind[s]; ok {
			c.valid = false
			return
		}
	}
}

// sum adds up the buckets of an endpoint that overlap rng. ok is false
// when none of them holds a request.
func (ea *endpointAgg) sum(rng timeRange) (*store.Bucket, bool) {
	sum, ok, done := ea.sharedSum(rng)
	defer done()
	return sum.Clone(), ok
}

// sharedSum is sum without a copy of the cached sum when it serves: the
// caller must not change the sum it gets, and must call done once it no
// longer reads it (the cache stays locked until then).
func (ea *endpointAgg) sharedSum(rng timeRange) (sum *store.Bucket, ok bool, done func()) {
	if rng.end.IsZero() {
		if rng.start.IsZero() {
			c := ea.lockedCache()
			return c.sum, c.requests > 0, c.mu.Unlock
		}
		w, _ := ea.lockedWindow(rng.start.Unix())
		return w.sum, w.requests > 0, w.mu.Unlock
	}
	// Every overlapping bucket, as the cached sum has them, so that a range
	// gives the same first and last seen either way.
	total, found := ea.emptySum(), false
	for s, b := range ea.buckets {
		if overlaps(s, b.WidthSec, rng) {
			total.Merge(b, sumSignCap)
			found = found || b.Counts.Requests > 0 || b.Counts.Duplicates > 0
		}
	}
	return total, found, func() {}
}

// overlaps reports whether the bucket [s, s+width) overlaps the range.
func overlaps(s, width int64, rng timeRange) bool {
	if !rng.end.IsZero() && s >= rng.end.Unix() && !(s == rng.end.Unix() && rng.end.Nanosecond() > 0) {
		return false
	}
	return rng.start.IsZero() || s+width > rng.start.Unix()
}
