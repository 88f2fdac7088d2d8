package envoy

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Stat is one admin /stats line.
type Stat struct {
	Name  string
	Value uint64
}

// statStore holds the server's counters and gauges, created by name at
// startup (or on first use) and updated without locks afterwards.
type statStore struct {
	mu       sync.Mutex
	counters map[string]*atomic.Uint64
	gauges   map[string]*atomic.Int64
}

func newStatStore() *statStore {
	return &statStore{counters: map[string]*atomic.Uint64{}, gauges: map[string]*atomic.Int64{}}
}

func (s *statStore) counter(name string) *atomic.Uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counters[name]
	if !ok {
		c = new(atomic.Uint64)
		s.counters[name] = c
	}
	return c
}

func (s *statStore) gauge(name string) *atomic.Int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.gauges[name]
	if !ok {
		g = new(atomic.Int64)
		s.gauges[name] = g
	}
	return g
}

// snapshot returns every stat, sorted by name.
func (s *statStore) snapshot() []Stat {
	s.mu.Lock()
	out := make([]Stat, 0, len(s.counters)+len(s.gauges))
	for name, c := range s.counters {
		out = append(out, Stat{name, c.Load()})
	}
	for name, g := range s.gauges {
		v := g.Load()
		if v < 0 {
			v = 0
		}
		out = append(out, Stat{name, uint64(v)})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// classCounters are the 1xx..5xx counters of a prefix.
type classCounters [6]*atomic.Uint64

func newClassCounters(s *statStore, prefix string) classCounters {
	var c classCounters
	for i := 1; i <= 5; i++ {
		c[i] = s.counter(prefix + "_" + string(rune('0'+i)) + "xx")
	}
	return c
}

func (c classCounters) inc(status int) {
	if i := status / 100; i >= 1 && i <= 5 {
		c[i].Add(1)
	}
}

// hcmStats are Envoy's http.<stat_prefix>.* statistics.
type hcmStats struct {
	rqTotal, cxTotal, rqTooLarge, noRoute, noCluster, rqTimeout *atomic.Uint64
	rqResponseBeforeComplete                                    *atomic.Uint64
	rqActive, cxActive                                          *atomic.Int64
	rqClass                                                     classCounters
}

func newHCMStats(s *statStore, statPrefix string) *hcmStats {
	p := "http." + statPrefix + "."
	return &hcmStats{
		rqTotal:                  s.counter(p + "downstream_rq_total"),
		cxTotal:                  s.counter(p + "downstream_cx_total"),
		rqTooLarge:               s.counter(p + "downstream_rq_too_large"),
		noRoute:                  s.counter(p + "no_route"),
		noCluster:                s.counter(p + "no_cluster"),
		rqTimeout:                s.counter(p + "downstream_rq_timeout"),
		rqResponseBeforeComplete: s.counter(p + "downstream_rq_response_before_rq_complete"),
		rqActive:                 s.gauge(p + "downstream_rq_active"),
		cxActive:                 s.gauge(p + "downstream_cx_active"),
		rqClass:                  newClassCounters(s, p+"downstream_rq"),
	}
}

// clusterStats are Envoy's cluster.<name>.* statistics.
type clusterStats struct {
	rqTotal, rqCompleted, rqTimeout, cxTotal, cxConnectFail, rqReset, shadowDropped *atomic.Uint64
	rqActive                                                                        *atomic.Int64
	rqClass                                                                         classCounters
}

func newClusterStats(s *statStore, name string) *clusterStats {
	p := "cluster." + name + "."
	return &clusterStats{
		rqTotal:       s.counter(p + "upstream_rq_total"),
		rqCompleted:   s.counter(p + "upstream_rq_completed"),
		rqTimeout:     s.counter(p + "upstream_rq_timeout"),
		cxTotal:       s.counter(p + "upstream_cx_total"),
		cxConnectFail: s.counter(p + "upstream_cx_connect_fail"),
		rqReset:       s.counter(p + "upstream_rq_tx_reset"),
		shadowDropped: s.counter(p + "upstream_rq_shadow_dropped"),
		rqActive:      s.gauge(p + "upstream_rq_active"),
		rqClass:       newClassCounters(s, p+"upstream_rq"),
	}
}
