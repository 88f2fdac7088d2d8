package bench

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	harness "github.com/shadowdiff/shadowdiff/e2e/envoy"
)

var portValue = regexp.MustCompile(`port_value:\s*(\d+)`)

func TestWithoutShadowdiffKeepsTheHopsAndDropsFiltersAndMirrors(t *testing.T) {
	local, err := os.ReadFile(localYAML)
	if err != nil {
		t.Fatal(err)
	}
	off, err := WithoutShadowdiff(local)
	if err != nil {
		t.Fatal(err)
	}
	on, err := harness.Parse(local)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := harness.Parse(off)
	if err != nil {
		t.Fatalf("derived bootstrap does not load: %v\n%s", err, off)
	}

	// Same listeners on the same addresses, same routes, same clusters.
	if len(cfg.Listeners) != len(on.Listeners) || len(cfg.Clusters) != len(on.Clusters) {
		t.Fatalf("%d listeners, %d clusters; local.yaml has %d, %d", len(cfg.Listeners), len(cfg.Clusters), len(on.Listeners), len(on.Clusters))
	}
	wasm, mirrors := 0, 0
	for i, l := range cfg.Listeners {
		if l.Name != on.Listeners[i].Name || l.Address != on.Listeners[i].Address {
			t.Errorf("listener %d: %s on %s, want %s on %s", i, l.Name, l.Address, on.Listeners[i].Name, on.Listeners[i].Address)
		}
		for _, f := range l.HCM.Filters {
			if f.Wasm != nil {
				wasm++
			}
		}
		for j, vh := range l.HCM.Routes.VirtualHosts {
			for k, r := range vh.Routes {
				mirrors += len(r.Mirrors)
				if want := on.Listeners[i].HCM.Routes.VirtualHosts[j].Routes[k].Cluster; r.Cluster != want {
					t.Errorf("listener %s routes to %s, want %s", l.Name, r.Cluster, want)
				}
			}
		}
	}
	if wasm != 0 || mirrors != 0 {
		t.Errorf("derived bootstrap still has %d Wasm filters and %d mirrors", wasm, mirrors)
	}

	// e2e/stack rewrites every port_value line: the same ports must be there.
	want := portValue.FindAllStringSubmatch(string(local), -1)
	got := portValue.FindAllStringSubmatch(string(off), -1)
	if ports(want) != ports(got) {
		t.Errorf("ports %s, want those of local.yaml %s", ports(got), ports(want))
	}
	if strings.Contains(string(off), "filter.wasm") {
		t.Error("derived bootstrap still names filter.wasm")
	}
}

func ports(ms [][]string) string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func TestWithoutShadowdiffRejectsAnInvalidBootstrap(t *testing.T) {
	// A listener without an address fails go-control-plane's validation.
	bad := []byte("static_resources:\n  listeners:\n  - name: x\n")
	if _, err := WithoutShadowdiff(bad); err == nil {
		t.Fatal("invalid bootstrap accepted")
	}
}

func TestStripRemovesOnlyWhatItIsAskedTo(t *testing.T) {
	local, err := os.ReadFile(localYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		r                     Removal
		wantWasm, wantMirrors int
	}{
		{Removal{}, 3, 2},
		{Removal{WasmFilters: true}, 0, 2},
		{Removal{Mirrors: true}, 3, 0},
	} {
		out, err := Strip(local, c.r)
		if err != nil {
			t.Fatalf("%+v: %v", c.r, err)
		}
		cfg, err := harness.Parse(out)
		if err != nil {
			t.Fatalf("%+v: %v", c.r, err)
		}
		wasm, mirrors := 0, 0
		for _, l := range cfg.Listeners {
			for _, f := range l.HCM.Filters {
				if f.Wasm != nil {
					wasm++
				}
			}
			for _, vh := range l.HCM.Routes.VirtualHosts {
				for _, r := range vh.Routes {
					mirrors += len(r.Mirrors)
				}
			}
		}
		if wasm != c.wantWasm || mirrors != c.wantMirrors {
			t.Errorf("%+v: %d Wasm filters, %d mirrors; want %d, %d", c.r, wasm, mirrors, c.wantWasm, c.wantMirrors)
		}
		// e2e/stack points every filter at the built module by this pattern.
		if n := strings.Count(string(out), "filter.wasm"); n != c.wantWasm {
			t.Errorf("%+v: %d filter.wasm paths, want %d", c.r, n, c.wantWasm)
		}
	}
}
