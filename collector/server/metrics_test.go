package server

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func find(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) []*dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []*dto.Metric
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// TestMetricLabelsAreBounded checks that every label of the server's
// metrics takes its values from a fixed set: never paths or request ids.
func TestMetricLabelsAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := newMetrics(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]map[string]bool{
		"rpc":    {rpcIngest: true, rpcReport: true},
		"result": {resultOK: true, resultInvalid: true, resultError: true},
	}
	if len(families) != 6 {
		t.Errorf("got %d metric families, want 6", len(families))
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !allowed[l.GetName()][l.GetValue()] {
					t.Errorf("%s has label %s=%q outside the fixed set", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	if _, err := newMetrics(reg); err == nil {
		t.Error("registering twice: want an error")
	}
}
