package cli

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// names maps the seeded paths to the endpoint names the collector gave them.
func (c *testCollector) names(t *testing.T) map[string]string {
	t.Helper()
	resp, err := shadowdiffv1.NewQueryClient(c.conn).ListEndpoints(context.Background(), &shadowdiffv1.ListEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, e := range resp.GetEndpoints() {
		for _, p := range []string{ordersPath, timePath, productsPath} {
			if e.GetPathTemplate() == p || strings.HasSuffix(e.GetEndpoint(), " "+p) {
				names[p] = e.GetEndpoint()
			}
		}
	}
	if len(names) != 3 {
		t.Fatalf("seeded endpoints not found by path: %v", resp)
	}
	return names
}

// TestGolden compares the CLI's output on the seeded collector with
// testdata/*.golden; run with -update to rewrite them after a deliberate change.
func TestGolden(t *testing.T) {
	c := seeded(t)
	n := c.names(t)
	orders, timeEP := n[ordersPath], n[timePath]
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"endpoints.txt", []string{"endpoints"}},
		{"endpoints-wide.txt", []string{"endpoints", "-o", "wide"}},
		{"endpoints.json", []string{"endpoints", "-o", "json"}},
		{"endpoints.yaml", []string{"endpoints", "-o", "yaml"}},
		{"endpoints-before-traffic.txt", []string{"endpoints", "--to", "2025-06-01T11:00:00Z"}},
		{"fields-orders.txt", []string{"fields", orders}},
		{"fields-orders.json", []string{"fields", orders, "-o", "json"}},
		{"fields-products-all.txt", []string{"fields", n[productsPath], "--all"}},
		{"fields-products.txt", []string{"fields", n[productsPath]}},
		{"fields-time-noise-wide.txt", []string{"fields", timeEP, "--include-noise", "-o", "wide"}},
		{"samples-orders.txt", []string{"samples", orders, regressedField, "--limit", "3"}},
		{"samples-orders.json", []string{"samples", orders, regressedField, "--limit", "2", "-o", "json"}},
		{"request.txt", []string{"request", "orders-0007"}},
		{"request.json", []string{"request", "orders-0007", "-o", "json"}},
		{"request-noise.txt", []string{"request", "time-0003"}},
		{"noise-list.txt", []string{"noise", "list"}},
		{"gate.txt", []string{"gate"}},
		{"gate.json", []string{"gate", "-o", "json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, c, tc.args...).String()
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("shadowdiff %q differs from %s (-want +got):\n%s", tc.args, path, diff)
			}
		})
	}
}
