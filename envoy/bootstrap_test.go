// Package envoy_test checks the Envoy bootstraps shipped in envoy/: they
// decode strictly with go-control-plane's types, pass the API's validation
// (also inside every typed_config), reference only clusters they define,
// carry plugin configurations the filter accepts, and run in the harness.
package envoy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"

	// Every typed_config type the files use.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"

	harness "github.com/shadowdiff/shadowdiff/e2e/envoy"
	filterconfig "github.com/shadowdiff/shadowdiff/filter/config"
)

// bootstraps lists every Envoy file of this directory.
func bootstraps(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Glob("examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, examples...)
	if len(files) != 4 {
		t.Fatalf("found %v, want local.yaml and three examples", files)
	}
	return files
}

func decode(t *testing.T, path string) *bootstrapv3.Bootstrap {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := &bootstrapv3.Bootstrap{}
	// Strict: unknown fields and unresolvable types are errors.
	if err := protojson.Unmarshal(js, b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

type validator interface{ ValidateAll() error }

// validateDeep runs ValidateAll on m and on every message packed in an Any
// below it, which ValidateAll alone does not reach. It returns how many
// Anys it opened.
func validateDeep(m proto.Message, path string) (int, error) {
	v, ok := m.(validator)
	switch {
	case ok:
		if err := v.ValidateAll(); err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
	case !strings.HasPrefix(string(m.ProtoReflect().Descriptor().FullName()), "google.protobuf."):
		// Envoy's types all have rules; only well-known types have none.
		return 0, fmt.Errorf("%s: %T has no ValidateAll", path, m)
	}
	n := 0
	var walk func(protoreflect.Message, string) error
	walk = func(msg protoreflect.Message, p string) error {
		if a, ok := msg.Interface().(*anypb.Any); ok {
			inner, err := a.UnmarshalNew()
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			k, err := validateDeep(inner, p+"<"+string(inner.ProtoReflect().Descriptor().FullName())+">")
			n += k + 1
			return err
		}
		var err error
		msg.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
			fp := p + "." + string(fd.Name())
			switch {
			case fd.IsMap() && fd.MapValue().Message() != nil:
				val.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					err = walk(mv.Message(), fp+"["+k.String()+"]")
					return err == nil
				})
			case fd.IsList() && fd.Message() != nil:
				for i := 0; i < val.List().Len() && err == nil; i++ {
					err = walk(val.List().Get(i).Message(), fmt.Sprintf("%s[%d]", fp, i))
				}
			case !fd.IsMap() && !fd.IsList() && fd.Message() != nil:
				err = walk(val.Message(), fp)
			}
			return err == nil
		})
		return err
	}
	err := walk(m.ProtoReflect(), path)
	return n, err
}

func TestBootstrapsValidate(t *testing.T) {
	for _, path := range bootstraps(t) {
		t.Run(path, func(t *testing.T) {
			n, err := validateDeep(decode(t, path), path)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Fatal("no typed_config validated: the walk is broken")
			}
		})
	}
}

// TestValidationReachesInsideTypedConfig proves the walk above looks inside
// Anys: a bad router inside an HCM passes the bootstrap's own ValidateAll.
func TestValidationReachesInsideTypedConfig(t *testing.T) {
	b := decode(t, "local.yaml")
	hcm := &hcmv3.HttpConnectionManager{}
	tc := b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig()
	if err := tc.UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	hcm.StatPrefix = "" // required by the HCM's own rules
	repacked, err := anypb.New(hcm)
	if err != nil {
		t.Fatal(err)
	}
	tc.Value = repacked.Value
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("the bootstrap's own validation already fails: %v", err)
	}
	if _, err := validateDeep(b, "local.yaml"); err == nil || !strings.Contains(err.Error(), "StatPrefix") {
		t.Fatalf("an empty stat_prefix inside the HCM: %v, want a StatPrefix violation", err)
	}
}

// files is what the cross-reference checks need from one bootstrap.
type files struct {
	clusters map[string]*clusterv3.Cluster
	routes   []*routev3.Route
	mirrors  []*routev3.RouteAction_RequestMirrorPolicy
	plugins  []*wasmv3.PluginConfig
}

func inspect(t *testing.T, b *bootstrapv3.Bootstrap) files {
	t.Helper()
	f := files{clusters: map[string]*clusterv3.Cluster{}}
	for _, c := range b.GetStaticResources().GetClusters() {
		f.clusters[c.GetName()] = c
	}
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, nf := range fc.GetFilters() {
				hcm := &hcmv3.HttpConnectionManager{}
				if err := nf.GetTypedConfig().UnmarshalTo(hcm); err != nil {
					t.Fatalf("listener %s: %v", l.GetName(), err)
				}
				rc := hcm.GetRouteConfig()
				f.mirrors = append(f.mirrors, rc.GetRequestMirrorPolicies()...)
				for _, vh := range rc.GetVirtualHosts() {
					f.mirrors = append(f.mirrors, vh.GetRequestMirrorPolicies()...)
					for _, r := range vh.GetRoutes() {
						f.routes = append(f.routes, r)
						f.mirrors = append(f.mirrors, r.GetRoute().GetRequestMirrorPolicies()...)
					}
				}
				for _, hf := range hcm.GetHttpFilters() {
					w := &wasmfilterv3.Wasm{}
					if hf.GetTypedConfig().MessageIs(w) {
						if err := hf.GetTypedConfig().UnmarshalTo(w); err != nil {
							t.Fatal(err)
						}
						f.plugins = append(f.plugins, w.GetConfig())
					}
				}
			}
		}
	}
	return f
}

// pluginJSON returns a plugin's configuration string.
func pluginJSON(t *testing.T, p *wasmv3.PluginConfig) []byte {
	t.Helper()
	s := &wrapperspb.StringValue{}
	if err := p.GetConfiguration().UnmarshalTo(s); err != nil {
		t.Fatalf("plugin %s: configuration is not a StringValue: %v", p.GetName(), err)
	}
	return []byte(s.GetValue())
}

func isHTTP2(t *testing.T, c *clusterv3.Cluster) bool {
	t.Helper()
	a, ok := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
	if !ok {
		return false
	}
	po := &upstreamhttpv3.HttpProtocolOptions{}
	if err := a.UnmarshalTo(po); err != nil {
		t.Fatal(err)
	}
	return po.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
}

func TestCrossReferences(t *testing.T) {
	for _, path := range bootstraps(t) {
		t.Run(path, func(t *testing.T) {
			f := inspect(t, decode(t, path))
			for _, r := range f.routes {
				if _, ok := f.clusters[r.GetRoute().GetCluster()]; !ok {
					t.Errorf("route %s: unknown cluster %q", r.GetName(), r.GetRoute().GetCluster())
				}
			}
			for _, m := range f.mirrors {
				// Envoy needs exactly one of cluster and cluster_header (ValidateAll does not check it).
				if (m.GetCluster() == "") == (m.GetClusterHeader() == "") {
					t.Errorf("mirror policy %v: want exactly one of cluster and cluster_header", m)
				}
				if _, ok := f.clusters[m.GetCluster()]; !ok {
					t.Errorf("mirror: unknown cluster %q", m.GetCluster())
				}
			}
			if len(f.plugins) == 0 {
				t.Fatal("no shadowdiff plugin")
			}
			for _, p := range f.plugins {
				var pc struct {
					Collector struct{ Cluster string } `json:"collector"`
				}
				if err := json.Unmarshal(pluginJSON(t, p), &pc); err != nil {
					t.Fatalf("plugin %s: %v", p.GetName(), err)
				}
				c, ok := f.clusters[pc.Collector.Cluster]
				if !ok {
					t.Errorf("plugin %s: collector cluster %q is not defined", p.GetName(), pc.Collector.Cluster)
				} else if !isHTTP2(t, c) {
					t.Errorf("collector cluster %s does not speak HTTP/2 (gRPC needs it)", c.GetName())
				}
				if p.GetFailurePolicy() != wasmv3.FailurePolicy_FAIL_OPEN {
					t.Errorf("plugin %s: failure_policy %s, want FAIL_OPEN", p.GetName(), p.GetFailurePolicy())
				}
			}
		})
	}
}

func TestPluginConfigsPassTheFiltersValidation(t *testing.T) {
	for _, path := range bootstraps(t) {
		for _, p := range inspect(t, decode(t, path)).plugins {
			if _, err := filterconfig.Parse(pluginJSON(t, p)); err != nil {
				t.Errorf("%s: plugin %s (vm %s): %v", path, p.GetName(), p.GetVmConfig().GetVmId(), err)
			}
		}
	}
}

func TestTheHarnessRunsEveryFile(t *testing.T) {
	for _, path := range bootstraps(t) {
		if _, err := harness.LoadFile(path); err != nil {
			t.Errorf("%v", err)
		}
	}
}
