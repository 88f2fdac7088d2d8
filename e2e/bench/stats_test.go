package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func TestSidecarStatsSumsAndDeltas(t *testing.T) {
	body := "wasmcustom.shadowdiff.digests_dropped: 3\nwasmcustom.shadowdiff.digests_dropped.queue_full: 3\n" +
		"wasmcustom.shadowdiff.digests_sent: 120\nhttp.front.downstream_rq_total: 40\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stats" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	c, err := SidecarStats(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sum("wasmcustom.shadowdiff.digests_dropped"); got != 3 {
		t.Errorf("dropped = %g, want 3 (the total, not plus its reasons)", got)
	}
	d := c.Since(Counters{"wasmcustom.shadowdiff.digests_sent": 100})
	if d["wasmcustom.shadowdiff.digests_sent"] != 20 || d["http.front.downstream_rq_total"] != 40 {
		t.Errorf("Since = %v", d)
	}
}

func TestSidecarStatsRejectsGarbage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "a: b\n")
	}))
	defer srv.Close()
	if _, err := SidecarStats(context.Background(), srv.Client(), srv.URL); err == nil {
		t.Error("non-numeric stat accepted")
	}
}

// The parser reads what client_golang really exposes, labels with spaces
// and braces included.
func TestCollectorMetricsReadsPrometheusExposition(t *testing.T) {
	reg := prometheus.NewRegistry()
	digests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shadowdiff_collector_digests_total"}, []string{"role", "result"})
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shadowdiff_collector_requests_total"}, []string{"endpoint", "outcome"})
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ingest_seconds"})
	reg.MustRegister(digests, requests, hist)
	digests.WithLabelValues("primary", "accepted").Add(7)
	digests.WithLabelValues("candidate", "accepted").Add(5)
	digests.WithLabelValues("candidate", "late").Add(1)
	requests.WithLabelValues(`GET /users/{id} "x"`, "compared").Add(4)
	hist.Observe(0.2)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	c, err := CollectorMetrics(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.With("shadowdiff_collector_digests_total", `result="accepted"`); got != 12 {
		t.Errorf("accepted = %g, want 12", got)
	}
	if got := c.Sum("shadowdiff_collector_digests_total"); got != 13 {
		t.Errorf("all digests = %g, want 13", got)
	}
	if got := c.With("shadowdiff_collector_requests_total", `outcome="compared"`); got != 4 {
		t.Errorf("compared = %g, want 4", got)
	}
	if got := c.Sum("ingest_seconds_count"); got != 1 {
		t.Errorf("histogram count = %g, want 1", got)
	}
}

func TestSplitSeriesRejectsUnterminatedLabels(t *testing.T) {
	if _, _, err := splitSeries(`m{a="}"`); err == nil {
		t.Error("unterminated labels accepted")
	}
}
