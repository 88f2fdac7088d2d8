package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/freeport"
	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
	"github.com/shadowdiff/shadowdiff/e2e/stack"
)

// guard turns a hang into a failure; it measures nothing.
const guard = 30 * time.Second

func TestFlagErrors(t *testing.T) {
	cases := map[string][]string{
		"--config is required":      {},
		"--concurrency must be":     {"--config", "x.yaml", "--concurrency", "0"},
		"unexpected arguments":      {"--config", "x.yaml", "extra"},
		"--log-level":               {"--config", "x.yaml", "--log-level", "loud"},
		"no such file or directory": {"--config", filepath.Join(t.TempDir(), "missing.yaml")},
	}
	for want, args := range cases {
		err := run(context.Background(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", args, err, want)
		}
	}
}

// freePorts returns n distinct ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports, err := freeport.PickN(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// startSidecar runs the command's run on config until the test ends and
// waits for /ready.
func startSidecar(t *testing.T, config string, adminPort int, args ...string) (stdout, stderr *testenv.SyncBuffer) {
	t.Helper()
	stdout, stderr = &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"--config", config}, args...), stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(guard):
			t.Error("the sidecar did not stop")
		}
	})
	deadline := time.Now().Add(guard)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/ready", adminPort))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return stdout, stderr
			}
		}
		select {
		case err := <-done:
			done <- err // for the cleanup, which waits for the exit
			t.Fatalf("the sidecar exited: %v\n%s", err, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunServesAndStops(t *testing.T) {
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("app")) })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Serve(ln)
	defer app.Close()
	free := freePorts(t, 2)
	admin, listen := free[0], free[1]
	config := filepath.Join(t.TempDir(), "envoy.yaml")
	yaml := fmt.Sprintf(`admin: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
static_resources:
  listeners:
  - name: in
    address: {socket_address: {address: 127.0.0.1, port_value: %d}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: in
          access_log: [{name: envoy.access_loggers.stdout, typed_config: {"@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog}}]
          route_config: {virtual_hosts: [{name: vh, domains: ["*"], routes: [{match: {prefix: "/"}, route: {cluster: app}}]}]}
          http_filters: [{name: envoy.filters.http.router, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]
  clusters:
  - name: app
    load_assignment: {cluster_name: app, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}}]}]}
`, admin, listen, ln.Addr().(*net.TCPAddr).Port)
	if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _ := startSidecar(t, config, admin)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/x", listen))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "app" {
		t.Errorf("through the sidecar: %q", b)
	}
	deadline := time.Now().Add(guard)
	for !strings.Contains(stdout.String(), "msg=access") {
		if time.Now().After(deadline) {
			t.Fatal("no access log record on stdout")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// localBootstrap is envoy/local.yaml.
func localBootstrap(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("../../../envoy/local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// localPorts maps every port of bootstrap to a distinct free one.
func localPorts(t *testing.T, bootstrap []byte) map[int]int {
	t.Helper()
	ports, err := stack.FreePorts(stack.BootstrapPorts(bootstrap), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// localConfig rewrites bootstrap (envoy/local.yaml or a variant) as
// e2e/stack does: the port mapping of localPorts and the module path.
func localConfig(t *testing.T, bootstrap []byte, wasm string, ports map[int]int) string {
	t.Helper()
	out := stack.Rewrite(bootstrap, ports, wasm)
	path := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
