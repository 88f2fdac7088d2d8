package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Label values are fixed sets: the RPC ("ingest" for the stream, "report"
// for the unary call) and the outcome of a batch. Field paths, endpoints and
// request ids never become labels.
const (
	rpcIngest = "ingest"
	rpcReport = "report"

	resultOK      = "ok"      // acknowledged (possibly with per-digest rejections)
	resultInvalid = "invalid" // refused with InvalidArgument
	resultError   = "error"   // the ingester failed: Unavailable
)

// metrics are the ingest service's Prometheus collectors.
type metrics struct {
	batches       *prometheus.CounterVec
	received      *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	filterDropped *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	streams       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "shadowdiff", "server"
	m := &metrics{
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "ingest_batches_total",
			Help: "Digest batches received, by RPC and result (ok, invalid, error).",
		}, []string{"rpc", "result"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "ingest_digests_received_total",
			Help: "Digests received in batches that were passed to the store, by RPC.",
		}, []string{"rpc"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "ingest_digests_rejected_total",
			Help: "Digests the store rejected as malformed (reported back in the ack), by RPC.",
		}, []string{"rpc"}),
		filterDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "filter_dropped_digests_total",
			Help: "Digests the filters reported as dropped before they reached the collector (DigestBatch.dropped), by RPC.",
		}, []string{"rpc"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "ingest_duration_seconds",
			Help:    "Time to store one batch and build its ack, by RPC.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12), // 100µs .. ~2.4s
		}, []string{"rpc"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "ingest_streams_active",
			Help: "Ingest streams currently open (about one per sidecar).",
		}),
	}
	// Pre-create the series so dashboards see zeros before the first batch.
	for _, rpc := range []string{rpcIngest, rpcReport} {
		for _, res := range []string{resultOK, resultInvalid, resultError} {
			m.batches.WithLabelValues(rpc, res)
		}
		m.received.WithLabelValues(rpc)
		m.rejected.WithLabelValues(rpc)
		m.filterDropped.WithLabelValues(rpc)
		m.latency.WithLabelValues(rpc)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.batches, m.received, m.rejected, m.filterDropped, m.latency, m.streams} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
