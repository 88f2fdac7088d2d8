package engine

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/store"
)

// The cached sum of old buckets follows late writes, rollups and ranges.
func TestAggregateSumCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newAggregates()
	info := endpointInfo{key: "GET /x", method: "GET", pathTemplate: "/x"}
	for _, ago := range []time.Duration{3 * time.Hour, time.Hour, 10 * time.Minute, time.Minute} {
		a.bucket(info, now.Add(-ago)).Counts.Requests++
	}
	ea := a.eps["GET /x"]
	total := func(rng timeRange) uint64 {
		s, _ := ea.sum(rng)
		return s.Counts.Requests
	}
	if got := total(rangeAll); got != 4 {
		t.Fatalf("sum = %d, want 4", got)
	}
	a.bucket(info, now.Add(-time.Hour)).Counts.Requests += 10 // a late request in an old bucket
	if got := total(rangeAll); got != 14 {
		t.Errorf("after a late write: %d, want 14", got)
	}
	if got := total(timeRange{start: now.Add(-30 * time.Minute)}); got != 2 {
		t.Errorf("last 30 min: %d, want 2", got)
	}
	if got := total(timeRange{end: now.Add(-2 * time.Hour)}); got != 1 {
		t.Errorf("until 2 h ago: %d, want 1", got)
	}
	a.rollup(now.Add(-rollupAfter))
	if got := total(rangeAll); got != 14 {
		t.Errorf("after rollup: %d, want 14", got)
	}
	a.dropBefore(now.Add(-2 * time.Hour))
	if got := total(rangeAll); got != 13 {
		t.Errorf("after retention: %d, want 13", got)
	}
}

// The cached sum follows writes without rebuilds: what a bucket gained
// is added to it once, and a rollup keeps it. Every sum equals the buckets
// added up without the cache.
func TestAggregateSumCacheFollowsWrites(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newAggregates()
	info := endpointInfo{key: "GET /x", method: "GET", pathTemplate: "/x"}
	ea := a.endpoint(info)
	write := func(at time.Time, path string) { writeDiffering(a, info, at, path) }
	ranges := []timeRange{rangeAll, {start: now.Add(-150 * time.Minute)}, {end: now.Add(-30 * time.Minute)}}
	check := func(step string) {
		t.Helper()
		for _, rng := range ranges {
			checkSum(t, ea, rng, step)
		}
	}
	for _, ago := range []time.Duration{3 * time.Hour, time.Hour, 10 * time.Minute, time.Minute, 0} {
		write(now.Add(-ago), "body.a")
	}
	check("start")
	for step := range 120 { // two hours, a write each minute and a late one
		now = now.Add(time.Minute + time.Second)
		write(now, fmt.Sprintf("body.f%d", step%7))
		write(now.Add(-time.Duration(step%13)*time.Minute), "body.a")
		if !ea.cache.valid {
			t.Fatalf("after %d min: writes dropped the cached sum", step+1)
		}
		check(fmt.Sprintf("after %d min", step+1))
	}
	write(now.Add(-150*time.Minute), "body.late") // a minute bucket about to be rolled up, written since the last sum
	if _, del := a.rollup(now.Add(-rollupAfter)); len(del) == 0 {
		t.Fatal("nothing rolled up")
	}
	check("after rollup")
	if _, del := a.rollup(now.Add(-rollupAfter + time.Hour)); len(del) == 0 {
		t.Fatal("nothing rolled up the second time")
	}
	if !ea.cache.valid {
		t.Error("a rollup of buckets in the sum dropped it")
	}
	check("after a second rollup")
	a.bucket(info, now.Add(-time.Hour)).Counts.Requests += 10 // a late write to an old bucket
	check("after a late write")
	a.dropBefore(now.Add(-4 * time.Hour))
	check("after retention")
}

// A rollup into an hour bucket written since the sum was brought up to
// date (a restart can leave minute buckets beside their hour) does not
// count that growth twice.
func TestAggregateSumCacheRollupIntoWrittenHour(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newAggregates()
	info := endpointInfo{key: "GET /x", method: "GET", pathTemplate: "/x"}
	hour := now.Add(-5*time.Hour).Unix() / hourWidth * hourWidth
	a.load(&store.Bucket{Endpoint: info.key, StartUnix: hour, WidthSec: hourWidth, Counts: store.EndpointCounts{Requests: 1}})
	a.load(&store.Bucket{Endpoint: info.key, StartUnix: hour + 600, WidthSec: minuteWidth, Counts: store.EndpointCounts{Requests: 2}})
	ea := a.eps[info.key]
	if s, _ := ea.sum(rangeAll); s.Counts.Requests != 3 {
		t.Fatalf("sum = %d, want 3", s.Counts.Requests)
	}
	a.bucket(info, time.Unix(hour+5, 0)).Counts.Requests += 4 // into the hour bucket
	a.rollup(now.Add(-rollupAfter))
	if s, _ := ea.sum(rangeAll); s.Counts.Requests != 7 {
		t.Errorf("after the rollup: sum = %d, want 7", s.Counts.Requests)
	}
}

// A rollup that moves signatures to an hour bucket's overflow, which the
// sum's larger cap would have kept, rebuilds the sum: it equals the buckets.
func TestAggregateSumCacheRollupOverflowsSignatures(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newAggregates()
	info := endpointInfo{key: "GET /x", method: "GET", pathTemplate: "/x"}
	ea := a.endpoint(info)
	hour := now.Add(-5*time.Hour).Unix() / hourWidth * hourWidth
	for m := range 2 {
		b := a.bucket(info, time.Unix(hour+int64(60*m), 0))
		for i := range 300 {
			b.Counts.Requests++
			b.AddSignature(fmt.Sprintf("body.f%d-%d", m, i)+sigKindSep+sigValue, 1, maxSignatures)
		}
	}
	if s, _ := ea.sum(rangeAll); len(s.Signatures) != 600 {
		t.Fatalf("sum holds %d signatures, want 600", len(s.Signatures))
	}
	a.rollup(now.Add(-rollupAfter))
	h := ea.buckets[hour]
	if h == nil || h.SignatureOverflow != 600-maxSignatures {
		t.Fatalf("hour bucket %+v: want %d signatures in its overflow", h, 600-maxSignatures)
	}
	s, _ := ea.sum(rangeAll)
	if len(s.Signatures) != maxSignatures || s.SignatureOverflow != 600-maxSignatures {
		t.Errorf("after the rollup the sum holds %d signatures and %d in overflow, want the hour bucket's %d and %d",
			len(s.Signatures), s.SignatureOverflow, maxSignatures, 600-maxSignatures)
	}
}

// A range gives the same sum whether the cached sum serves it or its
// buckets are added up, also with a bucket that holds no request.
func TestAggregateSumSameEitherWay(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newAggregates()
	info := endpointInfo{key: "GET /x", method: "GET", pathTemplate: "/x"}
	a.bucket(info, now.Add(-10*time.Minute)).Counts.Requests++
	a.bucket(info, now) // touched, nothing counted
	ea := a.eps[info.key]
	cached, _ := ea.sum(timeRange{start: now.Add(-time.Hour)})
	added, _ := ea.sum(timeRange{start: now.Add(-time.Hour), end: now.Add(time.Hour)})
	if cached.FirstSeenNano != added.FirstSeenNano || cached.LastSeenNano != added.LastSeenNano || cached.Counts != added.Counts {
		t.Errorf("open range: seen %d to %d, %+v; closed range: seen %d to %d, %+v",
			cached.FirstSeenNano, cached.LastSeenNano, cached.Counts, added.FirstSeenNano, added.LastSeenNano, added.Counts)
	}
}

// checkSum checks the sum of ea over rng against its buckets added up
// without any cache.
func checkSum(t *testing.T, ea *endpointAgg, rng timeRange, step string) {
	t.Helper()
	got, found := ea.sum(rng)
	want, wantFound := &store.Bucket{}, false
	for s, b := range ea.buckets {
		if overlaps(s, b.WidthSec, rng) {
			want.Merge(b, sumSignCap)
			wantFound = wantFound || b.Counts.Requests > 0 || b.Counts.Duplicates > 0
		}
	}
	if got.Counts != want.Counts || !maps.EqualFunc(got.Fields, want.Fields, (*store.FieldCounts).Equal) || found != wantFound {
		t.Errorf("%s, range %v: sum %+v with %d fields (found %v), want %+v with %d (found %v)", step, rng,
			got.Counts, len(got.Fields), found, want.Counts, len(want.Fields), wantFound)
	}
	if !maps.Equal(got.Signatures, want.Signatures) || got.SignatureOverflow != want.SignatureOverflow ||
		got.FirstSeenNano != want.FirstSeenNano || got.LastSeenNano != want.LastSeenNano {
		t.Errorf("%s, range %v: signatures %v (+%d), seen %d to %d; want %v (+%d), %d to %d", step, rng,
			got.Signatures, got.SignatureOverflow, got.FirstSeenNano, got.LastSeenNano,
			want.Signatures, want.SignatureOverflow, want.FirstSeenNano, want.LastSeenNano)
	}
}

// writeDiffering counts a compared request at t whose field path differed
// (with its signature) in the endpoint's bucket.
func writeDiffering(a *aggregates, info endpointInfo, t time.Time, path string) {
	b := a.bucket(info, t)
	b.Counts.Requests++
	b.Counts.Compared++
	fc := field(b, path, limits{maxFields: 64, maxSignatures: 8})
	fc.Seen++
	fc.Differed().Raw++
	b.AddSignature(path+sigKindSep+sigValue, 1, 4)
}
