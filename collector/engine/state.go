package engine

import (
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/store"
)

// Aggregates are kept per time bucket: one minute wide for recent
// requests, rolled up into one hour after rollupAfter.
const (
	minuteWidth = 60
	hourWidth   = 3600
	rollupAfter = 2 * time.Hour
)

// endpointAgg holds the buckets of one endpoint.
type endpointAgg struct {
	key          string
	method       string
	pathTemplate string
	routeName    string
	hasSecondary bool
	buckets      map[int64]*store.Bucket // by start (Unix seconds)
	// rolledUntil: requests before it go to hour buckets.
	rolledUntil int64
	cache       sumCache
	window      windowSums
	windowUse   atomic.Uint64 // uses of the window sums, for windowFor
	// version counts the writers' changes (under the engine's write
	// lock): an overview computed at the same version is still right.
	version  uint64
	overview overviewCache
}

// aggregates is the in-memory copy of every bucket, by endpoint.
type aggregates struct {
	eps   map[string]*endpointAgg
	dirty map[store.BucketRef]*store.Bucket
}

func newAggregates() *aggregates {
	return &aggregates{eps: map[string]*endpointAgg{}, dirty: map[store.BucketRef]*store.Bucket{}}
}

func (a *aggregates) endpoint(info endpointInfo) *endpointAgg {
	ea := a.eps[info.key]
	if ea == nil {
		ea = &endpointAgg{key: info.key, method: info.method, pathTemplate: info.pathTemplate, buckets: map[int64]*store.Bucket{}}
		a.eps[info.key] = ea
	}
	ea.version++ // every caller is about to change it
	if info.routeName != "" && info.routeName != ea.routeName {
		ea.routeName = strings.Clone(info.routeName) // not the digest's memory
	}
	return ea
}

// bucket returns the bucket for a request of the endpoint at t and marks it dirty.
func (a *aggregates) bucket(info endpointInfo, t time.Time) *store.Bucket {
	ea := a.endpoint(info)
	sec := t.Unix()
	width := int64(minuteWidth)
	if sec < ea.rolledUntil {
		width = hourWidth
	}
	start := sec - mod(sec, width)
	b := ea.buckets[start]
	if b == nil {
		b = &store.Bucket{Endpoint: ea.key, StartUnix: start, WidthSec: width,
			Method: ea.method, PathTemplate: ea.pathTemplate}
		ea.buckets[start] = b
	}
	if ea.routeName != "" {
		b.RouteName = ea.routeName
	}
	ea.cache.touched(b)
	ea.window.touched(b)
	nano := t.UnixNano()
	if b.FirstSeenNano == 0 || nano < b.FirstSeenNano {
		b.FirstSeenNano = nano
	}
	if nano > b.LastSeenNano {
		b.LastSeenNano = nano
	}
	a.dirty[b.Ref()] = b
	return b
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// load adds a bucket read from the store.
func (a *aggregates) load(b *store.Bucket) {
	ea := a.endpoint(endpointInfo{key: b.Endpoint, method: b.Method, pathTemplate: b.PathTemplate, routeName: b.RouteName})
	if b.Counts.WithSecondary > 0 {
		ea.hasSecondary = true
	}
	if b.WidthSec == hourWidth && b.StartUnix+hourWidth > ea.rolledUntil {
		ea.rolledUntil = b.StartUnix + hourWidth
	}
	ea.cache.invalidate()
	ea.window.invalidate()
	if have := ea.buckets[b.StartUnix]; have != nil {
		have.Merge(b, maxSignatures)
		return
	}
	ea.buckets[b.StartUnix] = b
}

// takeDirty returns the changed buckets and forgets them.
func (a *aggregates) takeDirty() []*store.Bucket {
	out := make([]*store.Bucket, 0, len(a.dirty))
	for _, b := range a.dirty {
		out = append(out, b)
	}
	clear(a.dirty)
	return out
}

// rollup merges minute buckets older than cutoff into hour buckets and
// returns the buckets to write and to delete.
func (a *aggregates) rollup(cutoff time.Time) (put []*store.Bucket, del []store.BucketRef) {
	limit := cutoff.Unix() - mod(cutoff.Unix(), hourWidth)
	for _, ea := range a.eps {
		var starts []int64
		for s, b := range ea.buckets {
			if b.WidthSec == minuteWidth && s < limit {
				starts = append(starts, s)
			}
		}
		if len(starts) == 0 {
			if limit > ea.rolledUntil {
				ea.rolledUntil = limit
			}
			continue
		}
		sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
		hours := map[int64]*store.Bucket{}
		exact := true // no signature moved to an hour bucket's overflow
		for _, s := range starts {
			b := ea.buckets[s]
			delete(ea.buckets, s)
			del = append(del, b.Ref())
			hs := s - mod(s, hourWidth)
			h := hours[hs]
			if h == nil {
				h = ea.buckets[hs]
				if h == nil || h.WidthSec != hourWidth {
					h = &store.Bucket{Endpoint: ea.key, StartUnix: hs, WidthSec: hourWidth, Method: b.Method, PathTemplate: b.PathTemplate, RouteName: b.RouteName}
				}
				hours[hs] = h
			}
			over := h.SignatureOverflow + b.SignatureOverflow
			h.Merge(b, maxSignatures)
			exact = exact && h.SignatureOverflow == over
		}
		for hs, h := range hours {
			ea.buckets[hs] = h
			put = append(put, h)
		}
		ea.cache.rolledUp(starts, hours, exact)
		ea.window.rolledUp(starts, hours)
		ea.version++
		if limit > ea.rolledUntil {
			ea.rolledUntil = limit
		}
	}
	return put, del
}

// dropBefore forgets buckets that ended by t (retention), as the store's
// DeleteBefore deletes them, and returns how many endpoints were left
// without any.
func (a *aggregates) dropBefore(t time.Time) int {
	cut := t.Unix()
	n := 0
	for key, ea := range a.eps {
		dropped := false
		for s, b := range ea.buckets {
			// Not before its end: until then it may count requests
			// inside the retention, whose records and samples stay.
			if s+b.WidthSec <= cut {
				delete(ea.buckets, s)
				ea.window.dropped(s)
				dropped = true
			}
		}
		if dropped {
			ea.cache.invalidate()
			ea.version++
		}
		if len(ea.buckets) == 0 {
			delete(a.eps, key)
			n++
		}
	}
	return n
}

// clearEndpoint forgets the buckets of one endpoint (all when empty).
func (a *aggregates) clearEndpoint(endpoint string) {
	for key := range a.eps {
		if endpoint == "" || key == endpoint {
			delete(a.eps, key)
		}
	}
	for ref := range a.dirty {
		if endpoint == "" || ref.Endpoint == endpoint {
			delete(a.dirty, ref)
		}
	}
}
