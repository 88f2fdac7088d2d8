package proxywasm

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
)

func hexOf(s string) string { return "0:" + hex.EncodeToString([]byte(s)) }

func hexInt(v uint64) string {
	return "0:" + hex.EncodeToString(binary.LittleEndian.AppendUint64(nil, v))
}

func hexPairs(kv ...string) string {
	var fields []httpfilter.Header
	for i := 0; i < len(kv); i += 2 {
		fields = append(fields, httpfilter.Header{Name: kv[i], Value: kv[i+1]})
	}
	return "0:" + hex.EncodeToString(serializePairs(fields))
}

func TestProperties(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{Name: "prop-plugin", RootID: "root-p", VMID: "vm-p",
		Node: &corev3.Node{Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{"REGION": structpb.NewStringValue("eu")}}}})
	cb := newCallbacks()
	f := p.NewFilter(cb)
	req := requestHeaders("properties", "x-multi", "first", "x-multi", "second", "user-agent", "ua")
	f.DecodeHeaders(req, true)

	node, err := proto.MarshalOptions{Deterministic: true}.Marshal(&corev3.Node{Metadata: &structpb.Struct{
		Fields: map[string]*structpb.Value{"REGION": structpb.NewStringValue("eu")}}})
	if err != nil {
		t.Fatal(err)
	}
	h.rep.expect(t, map[string]string{
		"prop.request.path":             "0:" + hex.EncodeToString([]byte("/p?q=1")),
		"prop.request.url_path":         hexOf("/p"),
		"prop.request.query":            hexOf("q=1"),
		"prop.request.host":             hexOf("app.test"),
		"prop.request.method":           hexOf("GET"),
		"prop.request.scheme":           hexOf("http"),
		"prop.request.id":               hexOf("rid-1"),
		"prop.request.protocol":         hexOf("HTTP/1.1"),
		"prop.request.headers.x-multi":  hexOf("first,second"),
		"prop.request.time":             hexInt(1700000000_000000005),
		"prop.request.useragent":        hexOf("ua"),
		"prop.request":                  "3:", // a whole attribute group does not serialize
		"prop.request.nope":             "1:",
		"prop.nope":                     "1:",
		"prop.source.address":           hexOf("10.0.0.1:34567"),
		"prop.source.port":              hexInt(34567),
		"prop.destination.address":      hexOf("10.0.0.2:10000"),
		"prop.destination.port":         hexInt(10000),
		"prop.connection.id":            hexInt(42),
		"prop.connection.mtls":          "0:00",
		"prop.connection_id":            hexInt(42),
		"prop.upstream.address":         "1:",
		"prop.xds.route_name":           hexOf("route-a"),
		"prop.xds.cluster_name":         hexOf("cluster-a"),
		"prop.xds.virtual_host_name":    hexOf("vh"),
		"prop.xds.node.metadata.REGION": hexOf("eu"),
		"prop.xds.node.metadata":        hexPairs("REGION", "eu"),
		"prop.xds.node":                 "0:" + hex.EncodeToString(node),
		"prop.plugin_name":              hexOf("prop-plugin"),
		"prop.plugin_root_id":           hexOf("root-p"),
		"prop.plugin_vm_id":             hexOf("vm-p"),
		"prop.response.code":            "1:",
		"prop.response.grpc_status":     "1:",
		"prop.response.code_details":    "1:",
		"prop.set":                      "0",
		"prop.my_prop":                  "0:hello",
		"prop.request.headers": hexPairs(":method", "GET", ":path", "/p?q=1", ":authority", "app.test",
			":scheme", "http", "x-request-id", "rid-1", "x-case", "properties", "x-multi", "first,second", "user-agent", "ua"),
	})
	if v := string(cb.info.FilterState["wasm.my_prop"]); v != "hello" {
		t.Errorf("filter state wasm.my_prop = %q", v)
	}

	// After the response, response.* is known.
	cb.info.ResponseCode, cb.info.ResponseCodeDetails = 200, "via_upstream"
	f.EncodeHeaders(headers(":status", "200"), false)
	f.EncodeTrailers(headers("grpc-status", "5"))
	f.Log()
	h.rep.expect(t, map[string]string{
		"logprop.response.code":         hexInt(200),
		"logprop.response.code_details": hexOf("via_upstream"),
		"logprop.response.grpc_status":  hexInt(5),
	})
}

func TestForeignFunctions(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("foreign"), true)
	h.rep.expect(t, map[string]string{"foreign.roundtrip": "0:0:true:true", "foreign.unknown": "1"})
}

// The real filter takes its workload from the node as Istio's sidecar has
// it: WORKLOAD_NAME and NAMESPACE strings, LABELS a Struct (the version
// label), and, without a NAME entry, the instance from xds.node.id.
func TestFilterWorkloadFromIstioNode(t *testing.T) {
	code := buildShadowdiffFilter(t)
	collector := testenv.StartRecordingCollector(t, "127.0.0.1:0")
	rt, err := NewRuntime(context.Background(), RuntimeOptions{
		Workers:             1,
		CompilationCacheDir: testCacheDir,
		Clusters:            testClusters{collectorClusterName: newTestCluster(collectorClusterName, true, collector.Addr)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	labels, err := structpb.NewStruct(map[string]any{"app": "shop", "version": "v1"})
	if err != nil {
		t.Fatal(err)
	}
	const nodeID = "sidecar~10.1.2.3~shop-v1-7d9f.shop~shop.svc.cluster.local"
	p, err := rt.Load(context.Background(), PluginConfig{
		Name: "shop.shadowdiff", RootID: "shadowdiff", VMID: "shadowdiff", Code: code,
		Configuration: []byte(`{"role":"primary","collector":{"cluster":"shadowdiff-collector"},"batch":{"max_digests":1}}`),
		Node: &corev3.Node{Id: nodeID, Cluster: "shop-v1.shop", Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{
			"WORKLOAD_NAME": structpb.NewStringValue("shop-v1"),
			"NAMESPACE":     structpb.NewStringValue("shop"),
			"LABELS":        structpb.NewStructValue(labels),
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newPrimaryExchange(testenv.JSONBody(1<<10)).run(p, "node-1"); err != nil {
		t.Fatal(err)
	}
	awaitDigests(t, rt, 1)
	ds := collector.Digests()
	if len(ds) != 1 {
		t.Fatalf("%d digests", len(ds))
	}
	w := ds[0].GetWorkload()
	if w.GetName() != "shop-v1" || w.GetNamespace() != "shop" || w.GetVersion() != "v1" || w.GetInstance() != nodeID ||
		w.GetPluginName() != "shop.shadowdiff" {
		t.Errorf("workload = %v", w)
	}
}
