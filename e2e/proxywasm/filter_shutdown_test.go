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
		// Two digests a batch: 5 streams make 1 batch in flight (a stream
		// carries one until the collector acknowledges it) and 3 digests
		// queued (the flush interval does not send them during the test).
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
	// The responses are digested on the root's ticks: wait until every
	// one is, then check no second batch went out unacknowledged.
	for deadline := time.Now().Add(10 * time.Second); metricValue(rt, "shadowdiff.digests_sent") < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no batch sent to the collector")
		}
	}
	time.Sleep(200 * time.Millisecond) // 20 ticks of the digest queue
	if sent := metricValue(rt, "shadowdiff.digests_sent"); sent != 2 {
		t.Fatalf("digests_sent = %d before shutdown, want 2: one batch until the collector acknowledges one", sent)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	shutdown, dropped := metricValue(rt, "shadowdiff.digests_dropped.shutdown"), metricValue(rt, "shadowdiff.digests_dropped")
	if shutdown != n || dropped != n {
		t.Errorf("after the root context ended: digests_dropped.shutdown = %d, digests_dropped = %d; want %d (2 unacknowledged, 3 queued)",
			shutdown, dropped, n)
	}
}
