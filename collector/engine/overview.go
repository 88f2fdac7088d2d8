package engine

import (
	"sync"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// overview is what ListEndpoints and the watch loop need of an endpoint's
// all-time view. It is cached per endpoint: with a thousand endpoints,
// computing every view for each query and after each commit took 100 ms
// and more, while between two queries few endpoints change. Shared by
// queries once made, so never modified.
type overview struct {
	summary     *shadowdiffv1.EndpointSummary
	counts      store.EndpointCounts
	significant []*shadowdiffv1.FieldStats
}

// overviewKey is what an overview was computed from: the endpoint's
// buckets, the noise rules and the endpoint rules (a superseding rule is
// named in the summary). The statistical settings do not change while the
// engine runs.
type overviewKey struct {
	version, noiseGen, rulesGen uint64
}

// overviewCache holds an endpoint's last overview. Queries fill it under
// the engine's read lock, so it has a lock of its own.
type overviewCache struct {
	mu  sync.Mutex
	set bool
	key overviewKey
	ov  *overview // nil when the endpoint had no request
}

// overviewLocked returns the all-time overview of an endpoint, nil when
// it has no request. Called with e.mu held (read).
func (e *Engine) overviewLocked(ea *endpointAgg) *overview {
	// Taken before computing: rules that change meanwhile leave a key
	// that no longer matches, never a stale overview under a new key.
	key := overviewKey{version: ea.version, noiseGen: e.noiseGen, rulesGen: e.endpoints.rulesGeneration()}
	c := &ea.overview
	c.mu.Lock()
	if c.set && c.key == key {
		ov := c.ov
		c.mu.Unlock()
		return ov
	}
	c.mu.Unlock()
	var ov *overview
	if v, ok := e.viewLocked(ea, rangeAll, keepSignificant); ok {
		ov = &overview{summary: v.summary, counts: v.counts, significant: v.fields}
	}
	c.mu.Lock()
	c.set, c.key, c.ov = true, key, ov
	c.mu.Unlock()
	return ov
}
