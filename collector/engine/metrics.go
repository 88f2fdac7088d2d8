package engine

import (
	"fmt"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// maxEndpointLabels bounds the endpoint label; further endpoints share "other".
const maxEndpointLabels = 200

// metrics are the engine's Prometheus metrics. Labels are bounded:
// endpoint (capped), role, result, outcome, reason (a validation field name).
type metrics struct {
	digests       *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	requests      *prometheus.CounterVec
	pending       prometheus.Gauge
	evicted       prometheus.Counter
	ingestSeconds prometheus.Histogram
	storeErrors   prometheus.Counter
	// panics counts the panics the engine recovered (logPanic).
	panics       prometheus.Counter
	regressions  *prometheus.CounterVec
	watchDropped prometheus.Counter
	rulesLearned prometheus.Counter
	overflowed   prometheus.Counter
	endpoints    prometheus.Gauge

	mu     sync.Mutex
	labels map[string]bool
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "shadowdiff", "collector"
	m := &metrics{
		digests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "digests_total",
			Help: "Digests received, by role and result (accepted, rejected, duplicate, late)."}, []string{"role", "result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "digests_rejected_total",
			Help: "Malformed digests, by the field that was wrong."}, []string{"reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Requests closed, by endpoint and outcome (compared, skipped_side_effect, incomplete, fingerprint_mismatch)."}, []string{"endpoint", "outcome"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "pending_requests",
			Help: "Requests waiting for more digests."}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "pending_evicted_total",
			Help: "Requests closed before their window ended because max-pending was reached."}),
		ingestSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "ingest_duration_seconds",
			Help: "Time to pair, diff and durably store one batch (the engine's part of shadowdiff_server_ingest_duration_seconds).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "store_errors_total",
			Help: "Failed store writes."}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "panics_total",
			Help: "Internal errors (bugs, logged, with their stacks at most once a minute per place) the engine recovered from: a request it could not close was dropped, a batch it could not build was refused, a job of its loop was cut short; the state is then reloaded from the store (after a dropped request or a cut job, at most once a minute)."}),
		regressions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "regressions_total",
			Help: "Fields that became significant regressions, by endpoint."}, []string{"endpoint"}),
		watchDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "watch_events_dropped_total",
			Help: "Regression events not delivered to a slow watcher."}),
		rulesLearned: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "endpoint_rules_learned_total",
			Help: "Endpoint rules learned from path segments that took many values (--auto-template-threshold)."}),
		overflowed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "endpoint_overflow_requests_total",
			Help: "Requests counted under a \"METHOD {other}\" endpoint because their own would have passed --max-endpoints."}),
		endpoints: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "endpoints",
			Help: "Endpoints with results in the retention window (compare with --max-endpoints)."}),
		labels: map[string]bool{},
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.digests, m.rejected, m.requests, m.pending, m.evicted, m.ingestSeconds, m.storeErrors, m.panics, m.regressions, m.watchDropped, m.rulesLearned, m.overflowed, m.endpoints} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// endpoint returns the label value of an endpoint, "other" past the cap.
// Digests with strings that are not UTF-8 are refused, but a label that is
// not would make Prometheus panic in the engine's loop, so it is made
// valid here too.
func (m *metrics) endpoint(ep string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.labels[ep] {
		return ep
	}
	if len(m.labels) >= maxEndpointLabels {
		return "other"
	}
	ep = strings.ToValidUTF8(ep, "\uFFFD")
	m.labels[ep] = true
	return ep
}
