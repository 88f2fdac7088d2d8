package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// rolesOf returns the digests a pairing key got, by role.
func rolesOf(c *testenv.RecordingCollector, key string) map[shadowdiffv1.Role]*shadowdiffv1.ResponseDigest {
	out := map[shadowdiffv1.Role]*shadowdiffv1.ResponseDigest{}
	for _, d := range c.Digests() {
		if d.GetPairingKey() == key {
			out[d.GetRole()] = d
		}
	}
	return out
}

func serve(t *testing.T, port int, h http.Handler) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// localExchange runs bootstrap (envoy/local.yaml or a variant with the
// same ports) with the real filter.wasm in front of the three sample apps
// (v1, v1, v2) and a recording collector, and sends one request with
// x-request-id key through the front listener. It returns each role's
// digest once all three have arrived, and the port mapping.
func localExchange(t *testing.T, bootstrap []byte, key string) (map[shadowdiffv1.Role]*shadowdiffv1.ResponseDigest, map[int]int) {
	t.Helper()
	if testing.Short() || raceEnabled {
		t.Skip("builds and compiles filter.wasm (minutes under -race)")
	}
	wasm := testenv.FilterWasm(t)
	ports := localPorts(t, bootstrap)
	for i, p := range []int{18001, 18002, 18003} {
		version := []string{"v1", "v1", "v2"}[i]
		serve(t, ports[p], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id": 1, "name": "widget", "version": %q}`, version)
		}))
	}
	collector := testenv.StartRecordingCollector(t, fmt.Sprintf("127.0.0.1:%d", ports[9090]))

	config := localConfig(t, bootstrap, wasm, ports)
	startSidecar(t, config, ports[9901], "--compilation-cache", t.TempDir(), "--concurrency", "1")

	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/items/1", ports[10000]), nil)
	req.Header.Set("X-Request-Id", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"v1"`) {
		t.Fatalf("client got %d %s, want the primary's answer", resp.StatusCode, body)
	}
	deadline := time.Now().Add(guard)
	for len(rolesOf(collector, key)) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("digests for %s from %v, want primary, secondary and candidate", key, rolesOf(collector, key))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return rolesOf(collector, key), ports
}

// TestRealFilterDigestsReachTheCollector runs envoy/local.yaml with the
// real filter.wasm: one request through the front listener yields a digest
// from each role's sidecar, paired by the x-request-id the front generated.
func TestRealFilterDigestsReachTheCollector(t *testing.T) {
	got, ports := localExchange(t, localBootstrap(t), "pair-1")
	for role, shadow := range map[shadowdiffv1.Role]bool{
		shadowdiffv1.Role_ROLE_PRIMARY: false, shadowdiffv1.Role_ROLE_SECONDARY: true, shadowdiffv1.Role_ROLE_CANDIDATE: true,
	} {
		d := got[role]
		if d.GetShadow() != shadow || d.GetStatus() != 200 || d.GetEndpoint().GetRouteName() != "shop" {
			t.Errorf("%s digest: shadow %v status %d route %q", role, d.GetShadow(), d.GetStatus(), d.GetEndpoint().GetRouteName())
		}
	}
	stats := adminStats(t, ports[9901])
	if !strings.Contains(stats, "wasmcustom.shadowdiff.digests_sent: ") {
		t.Errorf("/stats lacks the plugin's metrics:\n%s", stats)
	}
}

// istioNode is envoy/local.yaml with the node an Istio sidecar has (id,
// cluster, metadata with Structs, a number, a bool and a list beside
// strings) and no workload in the plugins' configurations.
func istioNode(t *testing.T, nodeID string) []byte {
	t.Helper()
	b := localBootstrap(t)
	const localNode = "node:\n  id: shadowdiff-local\n  cluster: shadowdiff-local\n"
	if !bytes.Contains(b, []byte(localNode)) {
		t.Fatal("envoy/local.yaml's node changed")
	}
	b = bytes.Replace(b, []byte(localNode), []byte(`node:
  id: `+nodeID+`
  cluster: shop-v9.shop
  metadata:
    NAMESPACE: shop
    WORKLOAD_NAME: shop-v9
    LABELS: {app: shop, version: v9}
    ENVOY_PROMETHEUS_PORT: 15090
    PROXY_CONFIG: {concurrency: 2, holdApplicationUntilProxyStarts: true, extraStatTags: [app]}
`), 1)
	workload := regexp.MustCompile(`,\s*"workload": \{[^}]*\}`)
	if n := len(workload.FindAll(b, -1)); n != 3 {
		t.Fatalf("envoy/local.yaml has %d plugin workloads, want 3", n)
	}
	return workload.ReplaceAll(b, nil)
}

// TestRealFilterWorkloadFromTheNode: without a workload in its
// configuration, the real filter takes it from the bootstrap's node as
// Istio's sidecars have it (filter/plugin's resolveWorkload): name and
// namespace from the metadata's strings, the version from the LABELS
// Struct, and the instance from node.id since the metadata has no NAME.
func TestRealFilterWorkloadFromTheNode(t *testing.T) {
	const nodeID = "sidecar~10.1.2.3~shop-v9-7d9f.shop~shop.svc.cluster.local"
	got, _ := localExchange(t, istioNode(t, nodeID), "pair-node")
	for role, d := range got {
		w := d.GetWorkload()
		if w.GetName() != "shop-v9" || w.GetNamespace() != "shop" || w.GetVersion() != "v9" || w.GetInstance() != nodeID {
			t.Errorf("%s digest's workload: %v", role, w)
		}
	}
}

func adminStats(t *testing.T, port int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/stats?filter=^wasmcustom", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
