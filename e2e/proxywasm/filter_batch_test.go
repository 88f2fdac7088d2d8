package proxywasm

import (
	"context"
	"strconv"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
)

// TestFilterLargestBatchFitsTheCollector sends the largest batch the
// filter's config allows to the real collector with its default limits:
// it is stored and acknowledged whole. One digest more a batch is refused
// by the filter's config: the collector would end the stream on such a
// batch (--max-batch-digests) and every digest would be lost.
func TestFilterLargestBatchFitsTheCollector(t *testing.T) {
	code := buildShadowdiffFilter(t)
	collector := testenv.StartCollector(t)
	rt, err := NewRuntime(context.Background(), RuntimeOptions{
		Workers:             1,
		CompilationCacheDir: testCacheDir,
		Clusters:            testClusters{collectorClusterName: newTestCluster(collectorClusterName, true, collector)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	load := func(maxDigests int) (*Plugin, error) {
		return rt.Load(context.Background(), PluginConfig{
			Name: "shadowdiff", RootID: "shadowdiff", VMID: "shadowdiff-primary-" + strconv.Itoa(maxDigests), Code: code,
			// A long flush interval and the largest max_bytes: only a batch
			// of max_digests goes out.
			Configuration: []byte(`{"role":"primary","collector":{"cluster":"shadowdiff-collector"},` +
				`"batch":{"max_digests":` + strconv.Itoa(maxDigests) + `,"max_bytes":4194304,"flush_interval":"1m"}}`),
			Env: map[string]string{"SHADOWDIFF_HASH_KEY": "shadowdiff-test-key-000000000000"},
		})
	}
	if p, err := load(1025); err == nil {
		_ = p.Close(context.Background())
		t.Fatal("the filter loaded with batch.max_digests 1025, over the collector's default --max-batch-digests (1024)")
	}
	p, err := load(1024)
	if err != nil {
		t.Fatalf("load with batch.max_digests 1024: %v", err)
	}
	ex := newPrimaryExchange(testenv.JSONBody(1 << 10))
	const n = 1024
	for i := range n {
		if _, err := ex.run(p, "batch-"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	acked, dropped := awaitDigests(t, rt, n)
	if acked != n || dropped != 0 {
		t.Errorf("one batch of %d digests: %d acknowledged, %d dropped", n, acked, dropped)
	}
}
