package envoy

// Setup of BenchmarkSidecar: the real filter.wasm, the real collector, and
// the Envoy subset configured as shadowdiff's primary sidecar.

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
	"github.com/shadowdiff/shadowdiff/e2e/proxywasm"
)

// sidecarBootstrap is one inbound listener in front of app, with the
// shadowdiff filter (primary role) when wasm is not empty, and the
// collector's HTTP/2 cluster. Like the ReverseProxy it is compared with,
// it writes no access log.
func sidecarBootstrap(app, collector, wasm string) string {
	filter := ""
	if wasm != "" {
		filter = fmt.Sprintf(`
          - name: shadowdiff
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: shadowdiff
                root_id: shadowdiff
                failure_policy: FAIL_OPEN
                vm_config:
                  vm_id: shadowdiff-primary
                  code: {local: {filename: %q}}
                  environment_variables:
                    key_values: {SHADOWDIFF_HASH_KEY: shadowdiff-bench-key-0000000000}
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: '{"role":"primary","collector":{"cluster":"shadowdiff-collector"}}'`, wasm)
	}
	cluster := func(name, addr, extra string) string {
		host, port, _ := net.SplitHostPort(addr)
		return fmt.Sprintf(`
  - name: %s
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: %s
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: %s, port_value: %s}}}%s`, name, name, host, port, extra)
	}
	return `static_resources:
  listeners:
  - name: inbound_primary
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: inbound_primary
          route_config:
            name: inbound_primary
            virtual_hosts:
            - name: shop
              domains: ["*"]
              routes:
              - name: shop
                match: {prefix: "/"}
                route: {cluster: app, timeout: 15s}
          http_filters:` + filter + `
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:` + cluster("app", app, "") + cluster("shadowdiff-collector", collector, `
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}`) + "\n"
}

// wasmHost loads Wasm filters into one proxywasm runtime, as the sidecar
// (e2e/cmd/sidecar) does: two VMs per plugin, like --concurrency 2.
type wasmHost struct {
	cacheDir string
	rt       *proxywasm.Runtime
	// observe is the runtime's HostCallObserver (may be nil).
	observe func(guest, host string)
}

func (h *wasmHost) load(ctx context.Context, clusters httpfilter.Clusters, wc *WasmConfig) (httpfilter.Factory, error) {
	if h.rt == nil {
		rt, err := proxywasm.NewRuntime(ctx, proxywasm.RuntimeOptions{CompilationCacheDir: h.cacheDir, Clusters: clusters, Workers: 2,
			HostCallObserver: h.observe})
		if err != nil {
			return nil, fmt.Errorf("wasm runtime: %w", err)
		}
		h.rt = rt
	}
	return h.rt.Load(ctx, proxywasm.PluginConfig{
		Name: wc.Name, RootID: wc.RootID, VMID: wc.VMID, Code: wc.Code,
		VMConfiguration: wc.VMConfiguration, Configuration: wc.Configuration,
		FailOpen: wc.FailOpen, Env: wc.Env,
	})
}

// metric returns a plugin metric's value (0 when undefined or no runtime).
func (h *wasmHost) metric(name string) uint64 {
	if h.rt == nil {
		return 0
	}
	for _, m := range h.rt.Metrics() {
		if m.Name == name {
			return m.Value
		}
	}
	return 0
}

// startSidecar writes the bootstrap to a file and runs it with LoadFile and
// Start; it returns the listener's URL.
func startSidecar(tb testing.TB, yaml string, host *wasmHost) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "sidecar.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg, err := LoadFile(path)
	if err != nil {
		tb.Fatalf("load bootstrap: %v\n%s", err, yaml)
	}
	srv, err := Start(context.Background(), cfg, Options{WasmLoader: host.load})
	if err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() { // after the shutdown below: cleanups run last first
		if host.rt != nil {
			if err := host.rt.Close(context.Background()); err != nil {
				tb.Errorf("close wasm runtime: %v", err)
			}
		}
	})
	shutdownAtCleanup(tb, srv)
	return "http://" + srv.Addrs()["inbound_primary"]
}
