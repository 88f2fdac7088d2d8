package bench

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	harness "github.com/shadowdiff/shadowdiff/e2e/envoy"
)

// WithoutShadowdiff derives the "off" topology from an Envoy bootstrap
// such as envoy/local.yaml: every shadowdiff Wasm HTTP filter and every
// request mirror policy is removed, everything else (listeners, hops,
// clusters, ports, access logs) is kept, so the front listener still
// routes through the primary's inbound listener to the primary service.
//
// The input and the result are decoded strictly and validated with
// go-control-plane (ValidateAll, also inside every typed_config) and
// reduced to the harness subset, as envoy/'s own tests do for its files;
// an error names what failed. The result is YAML with one port_value per
// line, so e2e/stack can rewrite its ports.
func WithoutShadowdiff(bootstrap []byte) ([]byte, error) {
	return Strip(bootstrap, Removal{WasmFilters: true, Mirrors: true})
}

// Removal says what Strip removes.
type Removal struct {
	// WasmFilters removes every Wasm HTTP filter (the shadowdiff filters).
	WasmFilters bool
	// Mirrors removes every request mirror policy.
	Mirrors bool
}

// Strip removes from a bootstrap what r says, keeps everything else, and
// validates the input and the result as WithoutShadowdiff describes. With
// one of the two removals it isolates the cost of the other: mirrors
// without digesting, or digesting on the primary path without mirrors.
func Strip(bootstrap []byte, r Removal) ([]byte, error) {
	b, err := harness.DecodeBootstrap(bootstrap)
	if err != nil {
		return nil, fmt.Errorf("decode bootstrap: %w", err)
	}
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, nf := range fc.GetFilters() {
				hcm := &hcmv3.HttpConnectionManager{}
				if !nf.GetTypedConfig().MessageIs(hcm) {
					continue
				}
				if err := nf.GetTypedConfig().UnmarshalTo(hcm); err != nil {
					return nil, fmt.Errorf("listener %s: %w", l.GetName(), err)
				}
				stripHCM(hcm, r)
				packed, err := anypb.New(hcm)
				if err != nil {
					return nil, fmt.Errorf("listener %s: repack: %w", l.GetName(), err)
				}
				nf.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: packed}
			}
		}
	}
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode bootstrap: %w", err)
	}
	out, err := yaml.JSONToYAML(js)
	if err != nil {
		return nil, fmt.Errorf("encode bootstrap: %w", err)
	}
	if _, err := harness.Parse(out); err != nil {
		return nil, fmt.Errorf("derived bootstrap: %w", err)
	}
	return out, nil
}

// stripHCM removes the Wasm filters and the mirror policies (at every level
// of the route configuration), as r says.
func stripHCM(hcm *hcmv3.HttpConnectionManager, r Removal) {
	if r.WasmFilters {
		kept := hcm.HttpFilters[:0]
		for _, f := range hcm.GetHttpFilters() {
			if !f.GetTypedConfig().MessageIs(&wasmfilterv3.Wasm{}) {
				kept = append(kept, f)
			}
		}
		hcm.HttpFilters = kept
	}
	rc := hcm.GetRouteConfig()
	if rc == nil || !r.Mirrors {
		return
	}
	rc.RequestMirrorPolicies = nil
	for _, vh := range rc.GetVirtualHosts() {
		vh.RequestMirrorPolicies = nil
		for _, r := range vh.GetRoutes() {
			if ra := r.GetRoute(); ra != nil {
				ra.RequestMirrorPolicies = nil
			}
		}
	}
}
