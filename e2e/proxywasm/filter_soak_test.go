package proxywasm

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
)

// Soak limits: the guest's linear memory must stay under soakMaxMemory and
// must not grow by more than soakMaxGrowth over the second half of the run
// (a leak of two bytes per request would show).
const (
	soakRequests   = 1_000_000
	soakSample     = 100_000
	soakMaxMemory  = 32 << 20
	soakMaxGrowth  = 1 << 20
	soakLargeEvery = 1000 // every soakLargeEvery-th response is 64 KiB
)

// TestFilterLinearMemory runs a million primary streams through one VM of
// the real filter.wasm, digests delivered to the real collector, and
// samples the guest's linear memory every 100,000. It runs only with
// SHADOWDIFF_SOAK=1 (it takes many minutes); SHADOWDIFF_SOAK_REQUESTS
// overrides the count. Most responses carry 1 KiB of JSON, one in a
// thousand 64 KiB.
func TestFilterLinearMemory(t *testing.T) {
	if os.Getenv("SHADOWDIFF_SOAK") != "1" {
		t.Skip("soak test: set SHADOWDIFF_SOAK=1")
	}
	requests := soakRequests
	if s := os.Getenv("SHADOWDIFF_SOAK_REQUESTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2*soakSample {
			t.Fatalf("SHADOWDIFF_SOAK_REQUESTS=%q: want a number of at least %d", s, 2*soakSample)
		}
		requests = n
	}
	code := buildShadowdiffFilter(t)
	rt, p := loadPlugin(t, code, testenv.StartCollector(t))
	small := newPrimaryExchange(testenv.JSONBody(1 << 10))
	large := newPrimaryExchange(testenv.JSONBody(64 << 10))
	mem := p.vms[0].mod.Memory()

	type sample struct {
		requests       int
		memory         uint32
		acked, dropped uint64
		path, done     float64 // mean µs per stream since the previous sample
	}
	samples := []sample{{memory: mem.Size()}}
	var window phases
	for i := 1; i <= requests; i++ {
		ex := small
		if i%soakLargeEvery == 0 {
			ex = large
		}
		ph, err := ex.run(p, "soak-"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		window.add(ph)
		if i%soakSample == 0 {
			samples = append(samples, sample{
				requests: i, memory: mem.Size(),
				acked:   metricValue(rt, "shadowdiff.digests_acknowledged"),
				dropped: metricValue(rt, "shadowdiff.digests_dropped"),
				path:    float64(window.path.Nanoseconds()) / 1e3 / soakSample,
				done:    float64(window.done.Nanoseconds()) / 1e3 / soakSample,
			})
			window = phases{}
		}
	}
	acked, dropped := awaitDigests(t, rt, uint64(requests))

	t.Logf("%9s %12s %10s %9s %10s %10s", "requests", "linear MiB", "acked", "dropped", "path µs", "done µs")
	for _, s := range samples {
		t.Logf("%9d %12.2f %10d %9d %10.1f %10.1f", s.requests, float64(s.memory)/(1<<20), s.acked, s.dropped, s.path, s.done)
	}
	t.Logf("at the end: %d digests acknowledged, %d dropped", acked, dropped)
	for _, m := range rt.Metrics() {
		if strings.HasPrefix(m.Name, "shadowdiff.digests_dropped.") && m.Value > 0 {
			t.Logf("  %s: %d", m.Name, m.Value)
		}
	}

	v := p.vms[0]
	v.mu.Lock()
	open := len(v.streams)
	v.mu.Unlock()
	if open != 0 {
		t.Errorf("the VM still holds %d streams", open)
	}
	half := samples[len(samples)/2].memory
	for _, s := range samples {
		if s.memory > soakMaxMemory {
			t.Errorf("after %d requests the linear memory is %d bytes, over %d", s.requests, s.memory, soakMaxMemory)
		}
	}
	if last := samples[len(samples)-1]; last.memory > half+soakMaxGrowth {
		t.Errorf("linear memory grew from %d to %d bytes over the second half of the run", half, last.memory)
	}
}
