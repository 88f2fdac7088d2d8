package engine

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Metrics carry only bounded labels: endpoint, role, outcome/result, reason.
func TestMetricsLabelsAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{Registerer: reg})
	defer e.Close()
	ingest(t, e, at(clk, dg("k1", primary, "/users/42", 200, f{"secret.field", tStr, sText, "x"})),
		at(clk, dg("k1", candidate, "/users/42", 200, f{"secret.field", tStr, sText, "y"})))
	if _, rej, _ := e.Ingest(t.Context(), []*shadowdiffv1.ResponseDigest{dg("", primary, "/x", 200)}); len(rej) != 1 {
		t.Fatalf("rejections = %v", rej)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"endpoint": true, "role": true, "result": true, "outcome": true, "reason": true}
	seen := map[string]bool{}
	for _, mf := range mfs {
		seen[mf.GetName()] = true
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if !allowed[l.GetName()] || strings.Contains(l.GetValue(), "secret") || strings.Contains(l.GetValue(), "k1") {
					t.Errorf("%s has label %s=%q", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	for _, name := range []string{"shadowdiff_collector_digests_total", "shadowdiff_collector_requests_total", "shadowdiff_collector_digests_rejected_total", "shadowdiff_collector_pending_requests"} {
		if !seen[name] {
			t.Errorf("metric %s missing", name)
		}
	}
	if _, err := Open(t.TempDir(), Options{Registerer: reg}); err == nil {
		t.Error("a second engine on the same registry should fail to register")
	}
}

// Digests and requests are counted by their labels (the engine adds a
// call's counts at its end).
func TestMetricsCountDigestsAndRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{Registerer: reg})
	defer e.Close()
	ingest(t, e, at(clk, dg("k1", primary, "/users/42", 200)), at(clk, dg("k1", candidate, "/users/42", 200)),
		at(clk, dg("k2", primary, "/users/7", 200)))
	ingest(t, e, at(clk, dg("k1", primary, "/users/42", 200)), at(clk, dg("k2", candidate, "/users/7", 500)),
		at(clk, dg("k3", candidate, "/orders", 200)))
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			name := strings.TrimPrefix(mf.GetName(), "shadowdiff_collector_")
			for _, l := range m.Label {
				name += " " + l.GetValue()
			}
			got[name] += m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		// Labels in name order: result, role.
		"digests_total accepted primary": 2, "digests_total accepted candidate": 3, "digests_total duplicate primary": 1,
		"requests_total GET /users/{id} compared": 2,
	}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("%s = %v, want %v (all: %v)", name, got[name], n, got)
		}
	}
}

// Past the cap on endpoint labels, the endpoints that closed requests last
// share "other", however the call's counts were kept.
func TestMetricsEndpointCapFollowsCloseOrder(t *testing.T) {
	reg := prometheus.NewRegistry()
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{Registerer: reg})
	defer e.Close()
	var ds []*shadowdiffv1.ResponseDigest
	name := func(i int) string { return "/" + string(rune('a'+i/26)) + string(rune('a'+i%26)) }
	for i := range maxEndpointLabels + 1 {
		key := "k" + name(i)
		ds = append(ds, at(clk, dg(key, primary, name(i), 200)), at(clk, dg(key, candidate, name(i), 200)))
	}
	ingest(t, e, ds...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "shadowdiff_collector_requests_total" {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "endpoint" {
					labels[l.GetValue()] = true
				}
			}
		}
	}
	last := "GET " + name(maxEndpointLabels)
	if labels[last] || !labels["other"] || !labels["GET "+name(0)] || len(labels) != maxEndpointLabels+1 {
		t.Errorf("endpoint labels: %d, %q labelled %v, other %v; want the first %d and other", len(labels), last, labels[last], labels["other"], maxEndpointLabels)
	}
}
