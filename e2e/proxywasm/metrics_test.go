package proxywasm

import (
	"testing"
)

func metricByName(t *testing.T, rt *Runtime, name string) Metric {
	t.Helper()
	for _, m := range rt.Metrics() {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no metric %q in %+v", name, rt.Metrics())
	return Metric{}
}

func TestMetricsAcrossVMs(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 2})
	p := h.load(t, PluginConfig{})
	// Streams go round robin: one per VM.
	for range 2 {
		f := p.NewFilter(newCallbacks())
		f.DecodeHeaders(requestHeaders("metrics"), true)
		f.Destroy()
	}
	h.rep.expect(t, map[string]string{
		"metrics.define":          "0",
		"metrics.inc":             "0",
		"metrics.inc_zero":        "2",
		"metrics.inc_neg":         "2",
		"metrics.record_counter":  "0",
		"metrics.redefine":        "true:true", // a new id, the same stat
		"metrics.gauge_after_dec": "5",
		"metrics.hist_record":     "0",
		"metrics.hist_get":        "2",
		"metrics.hist_inc":        "2",
		"metrics.bad_type":        "2",
		"metrics.unknown":         "1",
		"metrics.ids":             "0:1:2:4",
	})
	// The second VM sees the first VM's increments: one stat per name.
	if got := h.rep.all("metrics.counter"); len(got) != 2 || got[0] != "0:5" || got[1] != "0:10" {
		t.Errorf("counter values seen = %q, want 0:5 then 0:10", got)
	}
	if m := metricByName(t, h.rt, "conf.counter"); m.Type != Counter || m.Value != 10 {
		t.Errorf("conf.counter = %+v", m)
	}
	if m := metricByName(t, h.rt, "conf.gauge"); m.Type != Gauge || m.Value != 9 {
		t.Errorf("conf.gauge = %+v", m)
	}
	if m := metricByName(t, h.rt, "conf.hist"); m.Type != Histogram || m.Value != 60 || m.Count != 4 {
		t.Errorf("conf.hist = %+v", m)
	}
	ms := h.rt.Metrics()
	for i := 1; i < len(ms); i++ {
		if ms[i-1].Name > ms[i].Name {
			t.Errorf("metrics not sorted: %+v", ms)
		}
	}
}

func TestTickTimerPerVM(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 2})
	h.load(t, PluginConfig{Configuration: []byte("tick=5")})
	h.rep.expect(t, map[string]string{"configure.tick": "0"})
	got := h.rep.wait(t, "tick.done", 2)
	if got[0] != "3:true" || got[1] != "3:true" {
		t.Errorf("tick.done = %q", got)
	}
	// Each VM stopped its timer after 3 ticks on its root context.
	if m := metricByName(t, h.rt, "conf.ticks"); m.Value != 6 {
		t.Errorf("conf.ticks = %d, want 6", m.Value)
	}
}
