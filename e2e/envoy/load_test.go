package envoy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// validBootstrap has one of each supported thing; the rejection cases
// below each change one line of it.
const validBootstrap = `
node: {id: n1, cluster: c1, metadata: {team: shop, LABELS: {version: v1}, ports: [80, 443], canary: true}}
admin: {address: {socket_address: {address: 127.0.0.1, port_value: 9901}}}
static_resources:
  listeners:
  - name: in
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: in
          route_config:
            name: r
            virtual_hosts:
            - name: vh
              domains: ["*"]
              routes:
              - name: all
                match: {prefix: "/"}
                route:
                  cluster: app
                  timeout: 2s
                  request_mirror_policies:
                  - cluster: app
                    runtime_fraction: {default_value: {numerator: 10, denominator: TEN_THOUSAND}}
          http_filters:
          - name: wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: p
                root_id: r
                failure_policy: FAIL_OPEN
                vm_config:
                  vm_id: v
                  runtime: envoy.wasm.runtime.v8
                  code: {local: {filename: /x/filter.wasm}}
                  environment_variables: {key_values: {K: V}, host_env_keys: [HOME]}
                configuration: {"@type": type.googleapis.com/google.protobuf.StringValue, value: "{\"role\":\"primary\"}"}
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - name: app
    type: STRICT_DNS
    connect_timeout: 0.25s
    load_assignment:
      cluster_name: app
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: app.local, port_value: 8080}}}
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
`

func TestParseSubset(t *testing.T) {
	cfg, err := Parse([]byte(validBootstrap))
	if err != nil {
		t.Fatal(err)
	}
	// The node is kept whole, metadata values of every kind included, for
	// the Wasm plugins' xds.node.
	metadata, err := structpb.NewStruct(map[string]any{
		"team": "shop", "LABELS": map[string]any{"version": "v1"}, "ports": []any{80, 443}, "canary": true})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Node.GetId() != "n1" || cfg.Node.GetCluster() != "c1" || !proto.Equal(cfg.Node.GetMetadata(), metadata) ||
		cfg.Admin.Address != "127.0.0.1:9901" {
		t.Errorf("node/admin: %v %+v", cfg.Node, cfg.Admin)
	}
	c := cfg.Clusters[0]
	if c.Type != "STRICT_DNS" || !c.HTTP2 || c.ConnectTimeout != 250*time.Millisecond || c.Endpoints[0] != "app.local:8080" {
		t.Errorf("cluster: %+v", c)
	}
	r := cfg.Listeners[0].HCM.Routes.VirtualHosts[0].Routes[0]
	if r.Name != "all" || r.Timeout != 2*time.Second || len(r.Mirrors) != 1 ||
		r.Mirrors[0].Numerator != 10 || r.Mirrors[0].Denominator != 10000 {
		t.Errorf("route: %+v mirrors %+v", r, r.Mirrors)
	}
	w := cfg.Listeners[0].HCM.Filters[0].Wasm
	if w.Name != "p" || w.RootID != "r" || w.VMID != "v" || w.CodeFile != "/x/filter.wasm" || !w.FailOpen ||
		string(w.Configuration) != `{"role":"primary"}` || w.Env["K"] != "V" || w.HostEnvKeys[0] != "HOME" {
		t.Errorf("wasm: %+v", w)
	}
	if cfg.Listeners[0].BufferLimit != 1<<20 || !cfg.Listeners[0].HCM.GenerateRequestID {
		t.Errorf("listener defaults: %+v", cfg.Listeners[0])
	}
}

func TestRejectsWhatIsOutsideTheSubset(t *testing.T) {
	const (
		l0   = "static_resources.listeners[0]"
		hcm  = l0 + ".filter_chains[0].filters[0].typed_config"
		wasm = hcm + ".http_filters[0].typed_config.config"
		rt   = hcm + ".route_config.virtual_hosts[0].routes[0]"
	)
	cases := []struct {
		name, old, new, path, msg string
	}{
		{"node locality", "cluster: c1,", "cluster: c1, locality: {zone: z},", "node.locality", "not supported"},
		{"unknown field", "stat_prefix: in", "stat_prefix: in\n          statprefix: x", hcm + ".statprefix", "unknown field"},
		{"unsupported HCM field", "stat_prefix: in", "stat_prefix: in\n          use_remote_address: true", hcm + ".use_remote_address", "not supported"},
		{"unknown typed_config", "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
			"type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope", hcm + ".http_filters[1].typed_config", "not supported"},
		{"network filter other than the HCM", "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n",
			"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n", l0 + ".filter_chains[0].filters[0].typed_config", "not supported"},
		{"cluster type", "type: STRICT_DNS", "type: EDS", "static_resources.clusters[0].type", "EDS"},
		{"lb policy", "type: STRICT_DNS", "type: STRICT_DNS\n    lb_policy: RANDOM", "static_resources.clusters[0].lb_policy", "RANDOM"},
		{"router not last", "- name: envoy.filters.http.router", "- name: envoy.filters.http.router\n            typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}\n          - name: late", hcm + ".http_filters[1]", "the router must be the last HTTP filter"},
		{"unknown route cluster", "cluster: app\n                  timeout", "cluster: nope\n                  timeout", rt + ".route.cluster", `unknown cluster "nope"`},
		{"unknown mirror cluster", "- cluster: app", "- cluster: gone", rt + ".route.request_mirror_policies[0].cluster", `unknown cluster "gone"`},
		{"mirror cluster_header", "- cluster: app", "- cluster_header: x-c", rt + ".route.request_mirror_policies[0].cluster_header", "not supported"},
		{"route decorator", "match: {prefix: \"/\"}", "match: {prefix: \"/\"}\n                decorator: {operation: op}", rt + ".decorator", "not supported"},
		{"oneof set twice", "match: {prefix: \"/\"}", "match: {prefix: \"/\"}\n                direct_response: {status: 200}", rt, "oneof"},
		{"bad value", "timeout: 2s", "timeout: soon", rt + ".route", `invalid google.protobuf.Duration value "soon"`},
		{"remote wasm code", "code: {local: {filename: /x/filter.wasm}}", "code: {remote: {http_uri: {uri: \"http://x\", cluster: app, timeout: 1s}, sha256: ab}}", wasm + ".vm_config.code.remote", "not supported"},
		{"null vm", "runtime: envoy.wasm.runtime.v8", "runtime: envoy.wasm.runtime.null", wasm + ".vm_config.runtime", "not supported"},
		{"fail reload", "failure_policy: FAIL_OPEN", "failure_policy: FAIL_RELOAD", wasm + ".failure_policy", "FAIL_RELOAD"},
		{"plugin configuration type", `configuration: {"@type": type.googleapis.com/google.protobuf.StringValue, value: "{\"role\":\"primary\"}"}`,
			`configuration: {"@type": type.googleapis.com/google.protobuf.Duration, value: 1s}`, wasm + ".configuration", "not supported"},
		{"udp", "port_value: 10000}", "port_value: 10000, protocol: UDP}", l0 + ".address.socket_address.protocol", "TCP"},
		{"pgv validation", "connect_timeout: 0.25s", "connect_timeout: -1s", "", "ConnectTimeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(validBootstrap, tc.old) {
				t.Fatalf("the base bootstrap lacks %q", tc.old)
			}
			_, err := Parse([]byte(strings.Replace(validBootstrap, tc.old, tc.new, 1)))
			if err == nil {
				t.Fatal("accepted")
			}
			var pe *PathError
			if tc.path != "" && (!errors.As(err, &pe) || pe.Path != tc.path) {
				t.Errorf("error %q: want path %s", err, tc.path)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
		})
	}
}

func TestStaticClustersNeedIPs(t *testing.T) {
	y := strings.Replace(validBootstrap, "type: STRICT_DNS", "type: STATIC", 1)
	_, err := Parse([]byte(y))
	if err == nil || !strings.Contains(err.Error(), "static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address") {
		t.Errorf("STATIC cluster with a host name: %v", err)
	}
}
