package engine

import (
	"sync"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// overview is what ListEndpoints and the watch loop need of an endpoint's
// view over a time range. It is cached per endpoint: with a thousand
// endpoints, computing every view for each query and after each commit
// took 100 ms and more, while between two queries few endpoints change.
// Shared by queries once made, so never modified.
type overview struct {
	summary     *shadowdiffv1.EndpointSummary
	counts      store.EndpointCounts
	significant []*shadowdiffv1.FieldStats
}

// overviewKey is what an overview was computed from: the endpoint's
// buckets, the noise rules and the endpoint rules (a superseding rule is
// named in the summary), and for a time range the buckets it covers. The
// statistical settings do not change while the engine runs.
type overviewKey struct {
	version, noiseGen, rulesGen uint64
	// For a range with an end: before counts the buckets that ended by its start,
	// covered those it overlaps. Over the same buckets (the same
	// version) equal counts mean the same buckets: those before a start
	// only gain members as the start moves later, and with the same ones
	// before, the covered are the others that begin before the end, which
	// only gain members as the end moves later. So a window like the last
	// hour keeps its overview until a bucket leaves it or the data changes.
	// For a range from a time to now: before is -1 - the slot of the
	// endpoint's window sum that serves it, covered the sum's generation.
	before, covered int
}

// overviewCache holds an endpoint's last overviews: all time, and a time
// range for each window sum (consoles poll with the same windows; ranges
// with an end share the first). Queries fill it under the engine's read
// lock, so it has a lock of its own.
type overviewCache struct {
	mu     sync.Mutex
	all    overviewSlot
	ranged [len(windowSums{})]overviewSlot
}

type overviewSlot struct {
	set bool
	key overviewKey
	ov  *overview // nil when the endpoint had no request in the range
}

// overviewLocked returns the overview of an endpoint over rng, nil when it
// has no request there. Called with e.mu held (read).
func (e *Engine) overviewLocked(ea *endpointAgg, rng timeRange) *overview {
	// Taken before computing: rules that change meanwhile leave a key
	// that no longer matches, never a stale overview under a new key.
	key := overviewKey{version: ea.version, noiseGen: e.noiseGen, rulesGen: e.endpoints.rulesGeneration()}
	c := &ea.overview
	slot := &c.all
	switch {
	case rng == rangeAll:
	case rng.end.IsZero():
		// A window sum follows the range; its members are the buckets the
		// range covers, named by the sum's slot and generation.
		w, i := ea.lockedWindow(rng.start.Unix())
		key.before, key.covered = -1-i, int(w.gen)
		w.mu.Unlock()
		slot = &c.ranged[i]
	default:
		slot = &c.ranged[0]
		for s, b := range ea.buckets {
			switch {
			case overlaps(s, b.WidthSec, rng):
				key.covered++
			case !rng.start.IsZero() && s+b.WidthSec <= rng.start.Unix():
				key.before++
			}
		}
	}
	c.mu.Lock()
	if slot.set && slot.key == key {
		ov := slot.ov
		c.mu.Unlock()
		return ov
	}
	c.mu.Unlock()
	var ov *overview
	if v, ok := e.viewLocked(ea, rng, keepSignificant); ok {
		ov = &overview{summary: v.summary, counts: v.counts, significant: v.fields}
	}
	c.mu.Lock()
	*slot = overviewSlot{set: true, key: key, ov: ov}
	c.mu.Unlock()
	return ov
}
