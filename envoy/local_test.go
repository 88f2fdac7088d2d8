package envoy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	harness "github.com/shadowdiff/shadowdiff/e2e/envoy"
	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
	"github.com/shadowdiff/shadowdiff/e2e/stack"
)

var roleApps = map[string]int{
	"primary":   stack.PortAppPrimary,
	"secondary": stack.PortAppSecondary,
	"candidate": stack.PortAppCandidate,
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func role(t *testing.T, w *harness.WasmConfig) string {
	t.Helper()
	var c struct{ Role string }
	if err := json.Unmarshal(w.Configuration, &c); err != nil {
		t.Fatal(err)
	}
	return c.Role
}

func TestLocalTopology(t *testing.T) {
	cfg, err := harness.LoadFile("local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clusterPort := map[string]int{}
	for _, c := range cfg.Clusters {
		if len(c.Endpoints) != 1 {
			t.Fatalf("cluster %s: %v", c.Name, c.Endpoints)
		}
		clusterPort[c.Name] = port(t, c.Endpoints[0])
		if c.Name == "shadowdiff-collector" && (c.Endpoints[0] != fmt.Sprintf("127.0.0.1:%d", stack.PortCollectorGRPC) || !c.HTTP2) {
			t.Errorf("collector cluster %+v: want 127.0.0.1:%d over HTTP/2", c, stack.PortCollectorGRPC)
		}
	}
	if cfg.Admin == nil || port(t, cfg.Admin.Address) != stack.PortAdmin {
		t.Errorf("admin %+v, want port %d", cfg.Admin, stack.PortAdmin)
	}
	inbound := map[string]int{} // role → listener port
	var front *harness.Listener
	for _, l := range cfg.Listeners {
		if port(t, l.Address) == stack.PortFront {
			front = l
			continue
		}
		if len(l.HCM.Filters) != 1 || l.HCM.Filters[0].Wasm == nil {
			t.Fatalf("inbound listener %s: want exactly the Wasm filter", l.Name)
		}
		w := l.HCM.Filters[0].Wasm
		r := role(t, w)
		inbound[r] = port(t, l.Address)
		if !w.FailOpen {
			t.Errorf("%s: plugin is not FAIL_OPEN", l.Name)
		}
		routes := l.HCM.Routes.VirtualHosts[0].Routes
		if want := roleApps[r]; len(routes) != 1 || clusterPort[routes[0].Cluster] != want {
			t.Errorf("listener %s (role %q) routes to port %d, want the %s app on %d", l.Name, r, clusterPort[routes[0].Cluster], r, want)
		}
	}
	if len(inbound) != 3 {
		t.Fatalf("inbound roles %v, want primary, secondary, candidate", inbound)
	}
	if front == nil || len(front.HCM.Filters) != 0 {
		t.Fatalf("front listener on %d: %+v", stack.PortFront, front)
	}
	fr := front.HCM.Routes.VirtualHosts[0].Routes
	if len(fr) != 1 || fr[0].Match.Kind != harness.MatchPrefix || fr[0].Match.Prefix != "/" {
		t.Fatalf("front routes %+v, want one catch-all", fr)
	}
	if clusterPort[fr[0].Cluster] != inbound["primary"] {
		t.Errorf("front routes to port %d, want the primary inbound listener %d", clusterPort[fr[0].Cluster], inbound["primary"])
	}
	mirrored := map[int]bool{}
	for _, m := range fr[0].Mirrors {
		if m.Numerator != m.Denominator || m.DisableShadowSuffix || m.HostRewrite != "" {
			t.Errorf("mirror %+v: want 100%% with the -shadow suffix", m)
		}
		mirrored[clusterPort[m.Cluster]] = true
	}
	if len(mirrored) != 2 || !mirrored[inbound["secondary"]] || !mirrored[inbound["candidate"]] {
		t.Errorf("front mirrors to ports %v, want the secondary and candidate listeners %d, %d", mirrored, inbound["secondary"], inbound["candidate"])
	}
}

func TestLocalYAMLFitsStackRewrites(t *testing.T) {
	data, err := os.ReadFile("local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ports := stack.BootstrapPorts(data)
	for _, want := range []int{stack.PortFront, stack.PortAppPrimary, stack.PortAppSecondary, stack.PortAppCandidate, stack.PortCollectorGRPC, stack.PortAdmin} {
		if !slices.Contains(ports, want) {
			t.Errorf("no port_value: %d line for e2e/stack to rewrite", want)
		}
	}
	if n := stack.WasmFilenames(data); n != 3 {
		t.Errorf("%d filter.wasm filenames for e2e/stack to rewrite, want 3", n)
	}
}

// roleFilter stands in for filter.wasm: it stamps the request with the
// role of the plugin configuration it was loaded with.
type roleFilter struct {
	httpfilter.Filter
	role string
}

type roleFactory string

func (r roleFactory) NewFilter(httpfilter.Callbacks) httpfilter.Filter {
	return &roleFilter{role: string(r)}
}

func (f *roleFilter) DecodeHeaders(h *httpfilter.Headers, end bool) httpfilter.Status {
	h.Add("x-filter-role", f.role)
	return httpfilter.Continue
}
func (f *roleFilter) DecodeData(*httpfilter.Buffer, bool) httpfilter.Status {
	return httpfilter.Continue
}
func (f *roleFilter) DecodeTrailers(*httpfilter.Headers) httpfilter.Status {
	return httpfilter.Continue
}
func (f *roleFilter) EncodeHeaders(*httpfilter.Headers, bool) httpfilter.Status {
	return httpfilter.Continue
}
func (f *roleFilter) EncodeData(*httpfilter.Buffer, bool) httpfilter.Status {
	return httpfilter.Continue
}
func (f *roleFilter) EncodeTrailers(*httpfilter.Headers) httpfilter.Status {
	return httpfilter.Continue
}
func (f *roleFilter) Log()     {}
func (f *roleFilter) Destroy() {}

type seenRequest struct {
	host, requestID, filterRole, body string
}

func TestLocalTopologyRunsInTheHarness(t *testing.T) {
	data, err := os.ReadFile("local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string][]seenRequest{}
	free := map[int]int{}
	for appRole, appPort := range roleApps {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		free[appPort] = port(t, ln.Addr().String())
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			seen[appRole] = append(seen[appRole], seenRequest{r.Host, r.Header.Get("X-Request-Id"), r.Header.Get("X-Filter-Role"), string(b)})
			mu.Unlock()
			fmt.Fprintf(w, "answered by %s", appRole)
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	// Every other port (listeners, admin, collector) becomes a free one, as
	// e2e/stack does. A port found free can be taken before the harness
	// binds it: then the ports are chosen again.
	apps := maps.Clone(free)
	start := func() (*harness.Server, error) {
		var err error
		if free, err = stack.FreePorts(stack.BootstrapPorts(data), apps); err != nil {
			t.Fatal(err)
		}
		cfg, err := harness.Parse(stack.Rewrite(data, free, ""))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range cfg.Listeners {
			for _, f := range l.HCM.Filters {
				f.Wasm.Code = []byte("stand-in") // the loader below replaces the module
			}
		}
		return harness.Start(context.Background(), cfg, harness.Options{
			WasmLoader: func(_ context.Context, _ httpfilter.Clusters, w *harness.WasmConfig) (httpfilter.Factory, error) {
				return roleFactory(role(t, w)), nil
			},
		})
	}
	srv, err := start()
	for try := 1; errors.Is(err, syscall.EADDRINUSE) && try < 3; try++ {
		srv, err = start()
	}
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/cart", free[stack.PortFront]), strings.NewReader(`{"sku":7}`))
	req.Host = "shop.local"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Mirrors are fire and forget: the client has its answer before they
	// reach the inbound listeners, and Shutdown closes those listeners
	// first. Wait until both shadows have answered.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(seen["secondary"]) + len(seen["candidate"])
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if string(body) != "answered by primary" {
		t.Errorf("client got %q", body)
	}
	id := seen["primary"][0].requestID
	want := map[string]seenRequest{
		"primary":   {"shop.local", id, "primary", `{"sku":7}`},
		"secondary": {"shop.local-shadow", id, "secondary", `{"sku":7}`},
		"candidate": {"shop.local-shadow", id, "candidate", `{"sku":7}`},
	}
	for r, w := range want {
		if got := seen[r]; len(got) != 1 || got[0] != w {
			t.Errorf("%s app saw %+v, want %+v", r, got, w)
		}
	}
	if id == "" {
		t.Error("the front listener generated no x-request-id")
	}
}
