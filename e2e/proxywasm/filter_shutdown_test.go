package proxywasm

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
)

// TestFilterShutdownCountsUndelivered runs the real filter.wasm against a
// collector that accepts the stream and never acknowledges, then closes the
// plugin as Envoy does on a plugin or listener update (proxy_on_done, then
// proxy_on_delete on the root context). The digests in flight and those
// still queued are counted in digests_dropped.shutdown: none vanishes.
func TestFilterShutdownCountsUndelivered(t *testing.T) {
	code := buildShadowdiffFilter(t)
	hung := testenv.StartHungCollector(t)

	rt, err := NewRuntime(context.Background(), RuntimeOptions{
		Workers:             1,
		CompilationCacheDir: testCacheDir,
		Clusters:            testClusters{collectorClusterName: newTestCluster(collectorClusterName, true, hung.Addr)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	p, err := rt.Load(context.Background(), PluginConfig{
		Name: "shadowdiff", RootID: "shadowdiff", VMID: "shadowdiff-primary", Code: code,
		// Two digests a batch: 5 streams make 2 batches in flight and 1 digest
		// queued (the flush interval does not send it during the test).
		Configuration: []byte(`{"role":"primary","collector":{"cluster":"shadowdiff-collector"},"batch":{"max_digests":2,"flush_interval":"1m"}}`),
		Env:           map[string]string{"SHADOWDIFF_HASH_KEY": "shadowdiff-test-key-000000000000"},
	})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	ex := newPrimaryExchange(testenv.JSONBody(1 << 10))
	const n = 5
	for i := range n {
		if _, err := ex.run(p, "shutdown-"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	<-hung.Opened // the batches are on their way to a collector that will not answer
	// The responses are digested on the root's ticks, so the second batch
	// may follow the stream's opening by a tick or two.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		sent := metricValue(rt, "shadowdiff.digests_sent")
		if sent == 4 {
			break
		}
		if sent > 4 || time.Now().After(deadline) {
			t.Fatalf("digests_sent = %d before shutdown, want 4", sent)
		}
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	shutdown, dropped := metricValue(rt, "shadowdiff.digests_dropped.shutdown"), metricValue(rt, "shadowdiff.digests_dropped")
	if shutdown != n || dropped != n {
		t.Errorf("after the root context ended: digests_dropped.shutdown = %d, digests_dropped = %d; want %d (4 unacknowledged, 1 queued)",
			shutdown, dropped, n)
	}
}
