//go:build consoleengine

package console

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/engine"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// seedEngine opens a real collector engine in a temporary directory and
// ingests the synthetic traffic of seedDigests.
func seedEngine(t *testing.T) *seeded {
	t.Helper()
	ctx := context.Background()
	eng, err := engine.Open(ctx, engine.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() {
		if err := eng.Close(ctx); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	digests := seedDigests(time.Now().Add(-2 * time.Minute))
	for i := 0; i < len(digests); i += 500 {
		batch := digests[i:min(i+500, len(digests))]
		accepted, rejections := eng.Ingest(ctx, batch)
		if int(accepted) != len(batch) || len(rejections) > 0 {
			t.Fatalf("ingest: accepted %d of %d, rejections %v", accepted, len(batch), rejections)
		}
	}
	// Pairing may complete asynchronously: wait until every request is compared.
	names := map[string]string{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := eng.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{})
		if err != nil {
			t.Fatalf("list endpoints: %v", err)
		}
		done := 0
		for _, e := range resp.Endpoints {
			for _, p := range []string{seedOrdersPath, seedTimePath, seedProdPath} {
				if e.PathTemplate == p || strings.HasSuffix(e.Endpoint, p) {
					names[p] = e.Endpoint
					if e.Compared == seedRequests {
						done++
					}
				}
			}
		}
		if done == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine compared only part of the seeded traffic: %v", resp)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &seeded{
		q:              eng,
		regressed:      names[seedOrdersPath],
		noisy:          names[seedTimePath],
		clean:          names[seedProdPath],
		regressedField: "body.order.total",
		noiseField:     "body.meta.generated_at",
		sameField:      "body.items[].sku",
		candidateValue: "10.50",
		totalRequests:  fmt.Sprint(3 * seedRequests),
		honoursRange:   true,
		ratings: map[string]string{
			names[seedOrdersPath]: "POOR",    // 100 % different
			names[seedTimePath]:   "ALMOST",  // 1 %
			names[seedProdPath]:   "PERFECT", // identical
		},
	}
}
