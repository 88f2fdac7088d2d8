package envoy

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
)

// TestIstioClusterNameReachesTheCollector: in an Istio sidecar the
// collector's cluster is "outbound|9090||<host>", which Envoy would send as
// the stream's :authority when the GrpcService names none, and which the
// collector's sidecar resets as invalid. Through the real filter.wasm the
// stream carries "<host>:9090" instead, and the digests arrive.
func TestIstioClusterNameReachesTheCollector(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and compiles filter.wasm")
	}
	const istioCluster = "outbound|9090||shadowdiff-collector.shadowdiff.svc.cluster.local"
	wasm := testenv.FilterWasm(t)
	coll := startRecordingCollector(t)
	app := newRawBackend(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":1}`))
	})
	y := sidecarBootstrap(app, coll.Addr, wasm)
	if strings.Count(y, "shadowdiff-collector") != 3 { // the cluster, its load assignment, the plugin config
		t.Fatal("sidecarBootstrap's collector cluster changed")
	}
	y = strings.ReplaceAll(y, "shadowdiff-collector", istioCluster)
	url := startSidecar(t, y, &wasmHost{cacheDir: t.TempDir()})
	req, _ := http.NewRequest(http.MethodGet, url+"/orders/1", nil)
	req.Header.Set("X-Request-Id", "istio-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	coll.await(t, "istio-1")
	if got := coll.Authorities(); !slices.Contains(got, "shadowdiff-collector.shadowdiff.svc.cluster.local:9090") {
		t.Errorf("streams' :authority %q, want the collector's host:port", got)
	}
}
