package engine

import (
	"math"
	"sync"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/store"
)

// Queries add buckets up. The buckets that ended more than sealLag ago
// rarely change, so their sum is cached; a query then adds only the few
// recent buckets to it. As time passes the buckets that end are added to
// the sum, and a rollup, which only regroups sealed buckets, keeps it: a
// rebuild, which merges every bucket of a week, is left for the rare
// change to a sealed bucket and for retention.
const (
	sealLag    = 5 * 60
	sumSignCap = maxSignatures * 4
)

// sumCache is the sum of an endpoint's sealed buckets: those that ended by
// sealedUntil. Writers (holding the engine's write lock) invalidate it when
// they touch a sealed bucket; readers (holding the read lock) refresh it
// under mu.
type sumCache struct {
	mu          sync.Mutex
	valid       bool
	sealedUntil int64 // Unix seconds
	minEnd      int64 // earliest end of a sealed bucket
	sum         *store.Bucket
	requests    uint64 // requests + duplicates in sum
}

func (c *sumCache) invalidate() {
	c.mu.Lock()
	c.valid = false
	c.mu.Unlock()
}

// touched invalidates the cache when a sealed bucket changes.
func (c *sumCache) touched(b *store.Bucket) {
	c.mu.Lock()
	if c.valid && b.StartUnix+b.WidthSec <= c.sealedUntil {
		c.valid = false
	}
	c.mu.Unlock()
}

func (ea *endpointAgg) emptySum() *store.Bucket {
	return &store.Bucket{Endpoint: ea.key, Method: ea.method, PathTemplate: ea.pathTemplate, RouteName: ea.routeName}
}

// refresh returns the cache, brought up to now: rebuilt when invalid,
// else extended by the buckets that ended since. Called with c.mu held.
func (ea *endpointAgg) refresh(now time.Time) *sumCache {
	c := &ea.cache
	seal := now.Unix() - sealLag
	seal -= mod(seal, minuteWidth)
	if c.valid && seal == c.sealedUntil {
		return c
	}
	from := c.sealedUntil
	if !c.valid || seal < c.sealedUntil { // a clock set back: rebuild
		c.sum, c.minEnd, c.requests = ea.emptySum(), 0, 0
		from = math.MinInt64
	}
	for s, b := range ea.buckets {
		if end := s + b.WidthSec; end > from && end <= seal {
			c.add(b, end)
		}
	}
	c.sealedUntil, c.valid = seal, true
	return c
}

// add merges a sealed bucket that ends at end into the sum.
func (c *sumCache) add(b *store.Bucket, end int64) {
	c.sum.Merge(b, sumSignCap)
	c.requests += b.Counts.Requests + b.Counts.Duplicates
	if c.minEnd == 0 || end < c.minEnd {
		c.minEnd = end
	}
}

// rolledUp keeps the cache across a rollup of the endpoint's minute
// buckets into hours: when every hour bucket made is sealed, the sum is
// the same, and only the earliest end may have moved. Called with the
// engine's write lock held.
func (c *sumCache) rolledUp(ea *endpointAgg, hours map[int64]*store.Bucket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid {
		return
	}
	for s, h := range hours {
		if s+h.WidthSec > c.sealedUntil {
			c.valid = false
			return
		}
	}
	c.minEnd = 0
	for s, b := range ea.buckets {
		if end := s + b.WidthSec; end <= c.sealedUntil && (c.minEnd == 0 || end < c.minEnd) {
			c.minEnd = end
		}
	}
}

// sum adds up the buckets of an endpoint that overlap rng. ok is false
// when none of them holds a request.
func (ea *endpointAgg) sum(rng timeRange, now time.Time) (*store.Bucket, bool) {
	c := &ea.cache
	c.mu.Lock()
	c = ea.refresh(now)
	covered := (rng.start.IsZero() || c.minEnd == 0 || c.minEnd > rng.start.Unix()) &&
		(rng.end.IsZero() || rng.end.Unix() >= c.sealedUntil)
	var total *store.Bucket
	found := false
	sealedUntil := int64(-1 << 62)
	if covered {
		total = c.sum.Clone()
		found = c.requests > 0
		sealedUntil = c.sealedUntil
	}
	c.mu.Unlock()
	if total == nil {
		total = ea.emptySum()
	}
	for s, b := range ea.buckets {
		if s+b.WidthSec <= sealedUntil || !overlaps(s, b.WidthSec, rng) {
			continue
		}
		if b.Counts.Requests == 0 && b.Counts.Duplicates == 0 {
			continue
		}
		total.Merge(b, sumSignCap)
		found = true
	}
	return total, found
}

// overlaps reports whether the bucket [s, s+width) overlaps the range.
func overlaps(s, width int64, rng timeRange) bool {
	if !rng.end.IsZero() && s >= rng.end.Unix() && !(s == rng.end.Unix() && rng.end.Nanosecond() > 0) {
		return false
	}
	return rng.start.IsZero() || s+width > rng.start.Unix()
}
