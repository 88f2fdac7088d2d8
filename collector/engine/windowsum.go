package engine

import (
	"math"
	"sync"

	"github.com/shadowdiff/shadowdiff/collector/store"
)

// A query of the last hour (the console's and the CLI's --since) cannot use
// the all-time sum, and adding up the hour's minute buckets for each query
// cost ~0.25 ms per endpoint: 250 ms for an overview of a thousand busy
// ones. So an endpoint also keeps the sum over the last open-ended range
// asked for (from a time to now) and follows it: writes by their growth, as
// sumCache does, and the range by adding the buckets that entered it and
// taking out those that left, about one a minute. Taking a bucket out is
// exact while the sum kept every signature (none in its overflow);
// otherwise the sum is built again.
type windowSum struct {
	mu    sync.Mutex
	valid bool
	from  int64 // the range starts here (Unix seconds): buckets that end after it are in
	sum   *store.Bucket
	// members holds the end of each bucket in sum, by start.
	members map[int64]int64
	minEnd  int64 // earliest end of a member, 0 with none
	// behind holds, by start, the members written since they were added
	// to sum, as they were then; fresh the other buckets written since.
	behind map[int64]*store.Snapshot
	fresh  map[int64]struct{}
	// refs counts, per field path, the members that have it: a path
	// leaves sum with the last of them, as it would from a new sum.
	refs     map[string]int32
	requests uint64 // requests + duplicates in sum
	// gen changes whenever members do: with the endpoint's version, it
	// tells whether an overview of the range is still right.
	gen  uint64
	used uint64 // when last used, in the endpoint's count of uses (windowFor)
}

func (w *windowSum) invalidate() {
	w.mu.Lock()
	w.drop()
	w.mu.Unlock()
}

// drop forgets the sum, and what it kept to follow writes, until the next
// query builds it again. Called with mu held.
func (w *windowSum) drop() {
	w.valid = false
	w.sum, w.members, w.behind, w.fresh, w.refs = nil, nil, nil, nil, nil
}

// dropped drops the sum if retention took one of its buckets (a range
// that starts before the retention).
func (w *windowSum) dropped(start int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.members[start]; ok {
		w.drop()
	}
	delete(w.fresh, start)
}

// rolledUp drops the sum if a rollup merged minute buckets (starts) of
// it into hour buckets (hours): a range of the last hour or day keeps its
// sum, as rollups take buckets two hours old.
func (w *windowSum) rolledUp(starts []int64, hours map[int64]*store.Bucket) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.valid {
		return
	}
	for _, s := range starts {
		if _, ok := w.members[s]; ok {
			w.drop()
			return
		}
		delete(w.fresh, s) // gone: a sum that keeps it would never shrink
	}
	for s := range hours {
		if _, ok := w.members[s]; ok {
			w.drop()
			return
		}
		// A new hour bucket may reach into the range, which its
		// minute buckets did not.
		w.fresh[s] = struct{}{}
	}
}

// touched notes that b is about to change (see sumCache.touched).
func (w *windowSum) touched(b *store.Bucket) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.valid {
		return
	}
	if _, ok := w.members[b.StartUnix]; !ok {
		w.fresh[b.StartUnix] = struct{}{}
		return
	}
	if _, ok := w.behind[b.StartUnix]; !ok {
		w.behind[b.StartUnix] = b.Snapshot()
	}
}

// windowSums are an endpoint's sums of its last two open-ended ranges:
// a console on the last hour and a teammate's on the last day each keep
// theirs, where one sum went back and forth between them at every query.
type windowSums [2]windowSum

func (ws *windowSums) touched(b *store.Bucket) {
	for i := range ws {
		ws[i].touched(b)
	}
}

func (ws *windowSums) invalidate() {
	for i := range ws {
		ws[i].invalidate()
	}
}

func (ws *windowSums) rolledUp(starts []int64, hours map[int64]*store.Bucket) {
	for i := range ws {
		ws[i].rolledUp(starts, hours)
	}
}

func (ws *windowSums) dropped(start int64) {
	for i := range ws {
		ws[i].dropped(start)
	}
}

// windowFor picks the sum a range from from is to use: the one that
// starts latest at or before from (it only has to take buckets out), else
// an empty one, else the one used least recently.
func (ea *endpointAgg) windowFor(from int64) int {
	best, bestFrom := -1, int64(0)
	spare, spareUsed := 0, uint64(math.MaxUint64)
	for i := range ea.window {
		w := &ea.window[i]
		w.mu.Lock()
		valid, wf, used := w.valid, w.from, w.used
		w.mu.Unlock()
		if valid && wf <= from && (best < 0 || wf > bestFrom) {
			best, bestFrom = i, wf
		}
		if !valid {
			used = 0
		}
		if used < spareUsed {
			spare, spareUsed = i, used
		}
	}
	if best >= 0 {
		return best
	}
	return spare
}

// lockedWindow locks a window sum (windowFor) and brings it to the
// buckets that end after from; slot is its index. If that panics (a bug),
// the sum is invalidated and unlocked.
func (ea *endpointAgg) lockedWindow(from int64) (w *windowSum, slot int) {
	slot = ea.windowFor(from)
	w = &ea.window[slot]
	w.mu.Lock()
	ok := false
	defer func() {
		if !ok {
			w.drop()
			w.mu.Unlock()
		}
	}()
	if !w.follow(ea, from) {
		w.rebuild(ea, from)
	}
	w.used = ea.windowUse.Add(1)
	ok = true
	return w, slot
}

// rebuild adds up the buckets of ea that end after from.
func (w *windowSum) rebuild(ea *endpointAgg, from int64) {
	w.sum, w.minEnd, w.requests = ea.emptySum(), 0, 0
	if w.members == nil {
		w.members, w.behind, w.fresh, w.refs = map[int64]int64{}, map[int64]*store.Snapshot{}, map[int64]struct{}{}, map[string]int32{}
	}
	clear(w.members)
	clear(w.behind)
	clear(w.fresh)
	clear(w.refs)
	for s, b := range ea.buckets {
		if s+b.WidthSec > from {
			w.add(b)
		}
	}
	w.from, w.valid = from, true
	w.gen++
}

// follow brings a valid window sum of ea to from; false when it has to
// be built again instead.
func (w *windowSum) follow(ea *endpointAgg, from int64) bool {
	if !w.valid {
		return false
	}
	for s, was := range w.behind {
		b := ea.buckets[s]
		if b == nil { // rollups and retention invalidate the sum first
			return false
		}
		w.grow(b, was)
		delete(w.behind, s)
	}
	for s := range w.fresh {
		if b := ea.buckets[s]; b != nil && s+b.WidthSec > from {
			w.add(b)
		}
		delete(w.fresh, s)
	}
	if from < w.from {
		// A range that starts earlier (another client's clock, another
		// window): the buckets it adds, found among all (~300 a week).
		for s, b := range ea.buckets {
			if _, in := w.members[s]; !in && s+b.WidthSec > from {
				w.add(b)
			}
		}
	}
	if w.minEnd != 0 && w.minEnd <= from {
		if w.sum.SignatureOverflow > 0 {
			return false // which signatures overflowed is not known
		}
		w.minEnd = 0
		for s, end := range w.members {
			b := ea.buckets[s]
			if b == nil {
				return false
			}
			if end <= from {
				w.take(b)
				continue
			}
			if w.minEnd == 0 || end < w.minEnd {
				w.minEnd = end
			}
		}
		w.seenFrom(ea)
	}
	w.from = from
	return true
}

// add merges bucket b into the sum as a member.
func (w *windowSum) add(b *store.Bucket) {
	w.sum.Merge(b, sumSignCap)
	for p := range b.Fields {
		w.refs[p]++
	}
	end := b.StartUnix + b.WidthSec
	w.members[b.StartUnix] = end
	if w.minEnd == 0 || end < w.minEnd {
		w.minEnd = end
	}
	w.requests += b.Counts.Requests + b.Counts.Duplicates
	w.gen++
}

// grow adds what member b gained since was, its snapshot when last added.
func (w *windowSum) grow(b *store.Bucket, was *store.Snapshot) {
	w.sum.MergeGrowth(b, was, sumSignCap, func(path string) { w.refs[path]++ })
	w.requests += b.Counts.Requests + b.Counts.Duplicates - was.Requests()
}

// take subtracts member b from the sum, which must hold all its
// signatures, and forgets it. The first and last seen are left to
// seenFrom.
func (w *windowSum) take(b *store.Bucket) {
	s := w.sum
	s.Counts.Sub(&b.Counts)
	for p, fc := range b.Fields {
		dst := s.Fields[p]
		dst.Seen -= fc.Seen
		dst.NoiseSeen -= fc.NoiseSeen
		if fc.FieldDiffs != nil {
			dst.Differed().Sub(fc.FieldDiffs)
			if *dst.FieldDiffs == (store.FieldDiffs{}) {
				dst.FieldDiffs = nil // as a sum of buckets where it never differed has it
			}
		}
		if w.refs[p]--; w.refs[p] == 0 {
			delete(w.refs, p)
			delete(s.Fields, p)
		}
	}
	for sig, n := range b.Signatures {
		if s.Signatures[sig] -= n; s.Signatures[sig] == 0 {
			delete(s.Signatures, sig)
		}
	}
	w.requests -= b.Counts.Requests + b.Counts.Duplicates
	delete(w.members, b.StartUnix)
	w.gen++
}

// seenFrom sets the sum's first and last seen from its members.
func (w *windowSum) seenFrom(ea *endpointAgg) {
	w.sum.FirstSeenNano, w.sum.LastSeenNano = 0, 0
	for s := range w.members {
		b := ea.buckets[s]
		if b.FirstSeenNano != 0 && (w.sum.FirstSeenNano == 0 || b.FirstSeenNano < w.sum.FirstSeenNano) {
			w.sum.FirstSeenNano = b.FirstSeenNano
		}
		w.sum.LastSeenNano = max(w.sum.LastSeenNano, b.LastSeenNano)
	}
}
