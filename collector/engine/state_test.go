package engine

import (
	"testing"
	"time"
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
		s, _ := ea.sum(rng, now)
		return s.Counts.Requests
	}
	if got := total(rangeAll); got != 4 {
		t.Fatalf("sum = %d, want 4", got)
	}
	a.bucket(info, now.Add(-time.Hour)).Counts.Requests += 10 // a late request in a sealed bucket
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
