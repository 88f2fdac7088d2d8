package proxywasm

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"
)

// MetricType is proxy_metric_type_t.
type MetricType uint32

// Metric types.
const (
	Counter   MetricType = 0
	Gauge     MetricType = 1
	Histogram MetricType = 2
)

func (t MetricType) String() string {
	switch t {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Histogram:
		return "histogram"
	}
	return "unknown"
}

// Metric is one metric defined by a plugin. Value is the counter total, the
// gauge value, or for a histogram the sum of the recorded values (Count is
// the number of samples; it is 0 for other types).
type Metric struct {
	Name  string
	Type  MetricType
	Value uint64
	Count uint64
}

// metric is a stat shared by every VM and plugin of a runtime that defines
// the same name and type, as Envoy's stats store shares stats by name.
type metric struct {
	name  string
	typ   MetricType
	value atomic.Uint64
	count atomic.Uint64
}

type metricKey struct {
	name string
	typ  MetricType
}

type metricStore struct {
	mu    sync.Mutex
	byKey map[metricKey]*metric
}

func newMetricStore() *metricStore {
	return &metricStore{byKey: map[metricKey]*metric{}}
}

func (s *metricStore) get(name string, typ MetricType) *metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := metricKey{name, typ}
	m := s.byKey[k]
	if m == nil {
		m = &metric{name: name, typ: typ}
		s.byKey[k] = m
	}
	return m
}

// Metrics returns every metric defined by any VM of any plugin of this
// runtime, aggregated by name (counters summed across VMs), sorted by name.
// Envoy shows them with the "wasmcustom." prefix; adding it is the admin's job.
func (r *Runtime) Metrics() []Metric {
	r.metrics.mu.Lock()
	out := make([]Metric, 0, len(r.metrics.byKey))
	for _, m := range r.metrics.byKey {
		mm := Metric{Name: m.name, Type: m.typ, Value: m.value.Load()}
		if m.typ == Histogram {
			mm.Count = m.count.Load()
		}
		out = append(out, mm)
	}
	r.metrics.mu.Unlock()
	slices.SortFunc(out, func(a, b Metric) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Type, b.Type))
	})
	return out
}

func metricFuncs() []hostFunc {
	return []hostFunc{
		{name: "proxy_define_metric", params: i32s(4), fn: proxyDefineMetric},
		{name: "proxy_increment_metric", params: []api.ValueType{i32, i64}, fn: proxyIncrementMetric},
		{name: "proxy_record_metric", params: []api.ValueType{i32, i64}, fn: proxyRecordMetric},
		{name: "proxy_get_metric", params: i32s(2), fn: proxyGetMetric},
	}
}

// proxyDefineMetric returns a new id for the metric on every call (as
// Envoy does); ids of the same name share one value.
func proxyDefineMetric(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	typ, namePtr, nameSize, retID := uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3])
	if typ > uint32(Histogram) {
		return statusBadArgument
	}
	name, ok := readString(mod, namePtr, nameSize)
	if !ok {
		return statusInvalidMemoryAccess
	}
	v.nextMetID[typ] += metricIDIncrement
	id := v.nextMetID[typ]
	if !writeU32(mod, retID, id) {
		return statusInvalidMemoryAccess
	}
	v.metrics[id] = v.p.r.metrics.get(name, MetricType(typ))
	return statusOK
}

// proxyIncrementMetric adds delta: counters need delta > 0, gauges go up or
// down, histograms cannot be incremented.
func proxyIncrementMetric(_ context.Context, v *vm, _ api.Module, p []uint64) status {
	id, delta := uint32(p[0]), int64(p[1])
	typ := MetricType(id & metricTypeMask)
	if typ == Histogram || typ > Histogram {
		return statusBadArgument
	}
	m := v.metrics[id]
	if m == nil {
		return statusNotFound
	}
	if typ == Counter && delta <= 0 {
		return statusBadArgument
	}
	m.value.Add(uint64(delta))
	return statusOK
}

// proxyRecordMetric adds to a counter, sets a gauge, records a histogram sample.
func proxyRecordMetric(_ context.Context, v *vm, _ api.Module, p []uint64) status {
	id, value := uint32(p[0]), p[1]
	m := v.metrics[id]
	if m == nil {
		return statusNotFound
	}
	switch m.typ {
	case Counter:
		m.value.Add(value)
	case Gauge:
		m.value.Store(value)
	case Histogram:
		m.value.Add(value)
		m.count.Add(1)
	}
	return statusOK
}

// proxyGetMetric reads a counter or gauge; histograms have no single value.
func proxyGetMetric(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	id, ret := uint32(p[0]), uint32(p[1])
	typ := MetricType(id & metricTypeMask)
	if typ == Histogram || typ > Histogram {
		return statusBadArgument
	}
	m := v.metrics[id]
	if m == nil {
		return statusNotFound
	}
	if !writeU64(mod, ret, m.value.Load()) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}
