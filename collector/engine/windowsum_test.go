package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/store"
)

// The sum of the last hour follows the range as it moves, and writes,
// without being built again: buckets enter and leave it, a field that
// only a bucket that left had leaves with it, and every sum equals the
// buckets added up without a cache. Rollups, retention and overflowed
// signatures build it again.
func TestWindowSumFollowsRangeAndWrites(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newAggregates()
	info := endpointInfo{key: "GET /x", method: "GET", pathTemplate: "/x"}
	ea := a.endpoint(info)
	write := func(at time.Time, path string) { writeDiffering(a, info, at, path) }
	lastHour := func() timeRange { return timeRange{start: now.Add(-time.Hour)} }
	for m := range 90 {
		write(now.Add(-time.Duration(m)*time.Minute), "body.a")
	}
	write(now.Add(-50*time.Minute), "body.once") // leaves the last hour with its bucket
	checkSum(t, ea, lastHour(), "start")
	hourSum := &ea.window[0] // the first range asked for takes the first sum
	builds := hourSum.gen
	for step := range 90 { // 90 minutes, one query every 20 s
		now = now.Add(20 * time.Second)
		write(now, fmt.Sprintf("body.f%d", step%7))
		if step%5 == 0 {
			write(now.Add(-time.Duration(step%40)*time.Minute), "body.a") // late, into an older member
			write(now.Add(-3*time.Hour), "body.old")                      // late, before the range
		}
		checkSum(t, ea, lastHour(), fmt.Sprintf("after %d s", 20*(step+1)))
		// Other clients ask for the last day and the last six hours in
		// between: the second sum follows the day to six hours, the next
		// day back, and the hour keeps the first.
		if step%10 == 9 {
			checkSum(t, ea, timeRange{start: now.Add(-24 * time.Hour)}, fmt.Sprintf("day after %d s", 20*(step+1)))
		}
		if step%10 == 4 && step > 10 {
			checkSum(t, ea, timeRange{start: now.Add(-6 * time.Hour)}, fmt.Sprintf("six hours after %d s", 20*(step+1)))
		}
		if !hourSum.valid {
			t.Fatalf("after %d s: the window sum was dropped", 20*(step+1))
		}
	}
	checkSum(t, ea, lastHour(), "at the end")
	if _, ok := hourSum.sum.Fields["body.once"]; ok {
		t.Error("a field only a bucket that left the range had is still in the sum")
	}
	if hourSum.gen == builds {
		t.Error("no bucket entered or left the range")
	}
	// A range that starts within an hour whose minute buckets all ended
	// before it: once they are rolled up, the hour bucket reaches into it.
	hour := now.Add(-rollupAfter).Unix()/hourWidth*hourWidth - hourWidth
	write(time.Unix(hour+60, 0), "body.rolled")
	midHour := timeRange{start: time.Unix(hour+1800, 0)}
	checkSum(t, ea, midHour, "before rollup, from the middle of an hour")
	a.rollup(now.Add(-rollupAfter))
	checkSum(t, ea, midHour, "after rollup, from the middle of an hour")
	checkSum(t, ea, lastHour(), "after rollup")
	day := timeRange{start: now.Add(-24 * time.Hour)}
	checkSum(t, ea, day, "the last day, before retention")
	a.dropBefore(now.Add(-90 * time.Minute))
	checkSum(t, ea, day, "the last day, after retention")
	checkSum(t, ea, lastHour(), "after retention")

	// Signatures past the sum's cap: which ones overflowed is not known,
	// so a bucket leaving has the sum built again. (Which ones a sum
	// keeps depends on the order it meets them: compare totals.)
	for i := range sumSignCap + 10 {
		b := a.bucket(info, now.Add(-59*time.Minute))
		b.Counts.Requests++
		b.AddSignature(fmt.Sprintf("body.s%d", i)+sigKindSep+sigValue, 1, sumSignCap+10)
	}
	for _, step := range []string{"signatures over the cap", "signatures over the cap, a bucket left"} {
		got, _ := ea.sum(lastHour())
		want := &store.Bucket{}
		for s, b := range ea.buckets {
			if overlaps(s, b.WidthSec, lastHour()) {
				want.Merge(b, sumSignCap)
			}
		}
		total := func(b *store.Bucket) uint64 {
			n := b.SignatureOverflow
			for _, c := range b.Signatures {
				n += c
			}
			return n
		}
		if got.Counts != want.Counts || len(got.Signatures) != len(want.Signatures) || total(got) != total(want) {
			t.Errorf("%s: %+v, %d signatures counting %d; want %+v, %d counting %d", step,
				got.Counts, len(got.Signatures), total(got), want.Counts, len(want.Signatures), total(want))
		}
		now = now.Add(2 * time.Minute)
	}
}

// A window sum no query follows any more (the console was closed) keeps
// what it notes of writes within the endpoint's buckets: rollups and
// retention take out the buckets they remove.
func TestWindowSumNotesOnlyLiveBuckets(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newAggregates()
	info := endpointInfo{key: "GET /x", method: "GET", pathTemplate: "/x"}
	ea := a.endpoint(info)
	a.bucket(info, now.Add(-2*time.Hour)).Counts.Requests++
	ea.sum(timeRange{start: now.Add(-time.Hour)}) // idle for the last hour: no member
	for m := range 3 * 24 * 60 {                  // three days, a request a minute, no windowed query
		now = now.Add(time.Minute)
		a.bucket(info, now).Counts.Requests++
		if m%10 == 0 {
			a.rollup(now.Add(-rollupAfter))
			a.dropBefore(now.Add(-24 * time.Hour))
		}
	}
	if n := len(ea.window[0].fresh); n > len(ea.buckets) {
		t.Errorf("the window sum notes %d buckets written since, the endpoint has %d", n, len(ea.buckets))
	}
	checkSum(t, ea, timeRange{start: now.Add(-time.Hour)}, "three days later")
}

// Two clients on different windows (a console on the last hour, another
// on the last day) each keep a sum: asking for them in turn builds
// neither again, and a third window takes the sum used least recently.
func TestWindowSumsServeTwoWindows(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newAggregates()
	info := endpointInfo{key: "GET /x", method: "GET", pathTemplate: "/x"}
	ea := a.endpoint(info)
	for m := range 30 * 60 {
		writeDiffering(a, info, now.Add(-time.Duration(m)*time.Minute), fmt.Sprintf("body.f%d", m%7))
	}
	hour, day := timeRange{start: now.Add(-time.Hour)}, timeRange{start: now.Add(-24 * time.Hour)}
	checkSum(t, ea, hour, "hour")
	checkSum(t, ea, day, "day")
	gens := [2]uint64{ea.window[0].gen, ea.window[1].gen}
	for i := range 10 {
		checkSum(t, ea, hour, fmt.Sprint("hour again ", i))
		checkSum(t, ea, day, fmt.Sprint("day again ", i))
	}
	if now := [2]uint64{ea.window[0].gen, ea.window[1].gen}; now != gens {
		t.Errorf("asking for the hour and the day in turn changed the sums' generations from %v to %v: built again", gens, now)
	}
	checkSum(t, ea, timeRange{start: now.Add(-6 * time.Hour)}, "six hours") // follows the day's sum
	checkSum(t, ea, hour, "hour after six hours")
	if ea.window[0].gen != gens[0] {
		t.Error("a third window took the hour's sum, used more recently")
	}
	checkSum(t, ea, day, "day after six hours")
}
