// Package stack runs shadowdiff's local topology as real processes: the
// collector with its embedded store, three sample services (v1, a second
// v1 and v2) and one harness sidecar loaded with bin/filter.wasm and
// envoy/local.yaml. The demo and the end-to-end tests both start it.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Ports of envoy/local.yaml (see docs in that file).
const (
	PortFront          = 10000
	PortAppPrimary     = 18001
	PortAppSecondary   = 18002
	PortAppCandidate   = 18003
	PortCollectorGRPC  = 9090
	PortCollectorHTTP  = 9091
	PortAdmin          = 9901
	stopGrace          = 10 * time.Second
	defaultStartupWait = 60 * time.Second
)

// ErrPortInUse is wrapped by Start's error when a port of the stack is
// taken, by another stack most often; Options.FreePorts avoids it.
var ErrPortInUse = errors.New("port already in use")

// portNames names the stack's fixed ports in errors.
var portNames = map[int]string{
	PortFront: "sidecar front listener", PortAdmin: "sidecar admin",
	PortAppPrimary: "app-primary", PortAppSecondary: "app-secondary", PortAppCandidate: "app-candidate",
	PortCollectorGRPC: "collector gRPC", PortCollectorHTTP: "collector HTTP",
}

// Roles of the sample services, in start order.
var roles = []struct {
	name, variant string
	port          int
}{
	{"primary", "v1", PortAppPrimary},
	{"secondary", "v1", PortAppSecondary},
	{"candidate", "v2", PortAppCandidate},
}

// Options says where the binaries and files are.
type Options struct {
	// BinDir holds collector, sidecar, sampleapp and filter.wasm (make build).
	BinDir string
	// EnvoyConfig is the bootstrap to run, normally envoy/local.yaml.
	EnvoyConfig string
	// WorkDir receives the collector's data, the logs and the rewritten
	// bootstrap. It must exist.
	WorkDir string
	// FreePorts replaces every port of the bootstrap with a free one, so
	// tests can run beside a demo. Otherwise the file's ports are used.
	FreePorts bool
	// CollectorArgs are extra flags for bin/collector.
	CollectorArgs []string
	Logger        *slog.Logger
}

// Stack is a running local topology.
type Stack struct {
	// FrontURL is where clients send traffic (the mirroring listener).
	FrontURL string
	// CollectorAddr is the collector's gRPC address; ConsoleURL its web console.
	CollectorAddr string
	ConsoleURL    string
	// AdminURL is the sidecar's admin listener (/stats, /ready).
	AdminURL string
	// AppURLs are the sample services by role, bypassing the sidecar.
	AppURLs map[string]string

	opts      Options
	ports     map[int]int
	dataDir   string
	collector *Process
	sidecar   *Process
	apps      []*Process
}

// Start launches the stack and waits until every part is ready. On error
// everything already started is stopped.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	bootstrap, err := os.ReadFile(opts.EnvoyConfig)
	if err != nil {
		return nil, fmt.Errorf("read bootstrap: %w", err)
	}
	s := &Stack{opts: opts, dataDir: filepath.Join(opts.WorkDir, "collector-data"), AppURLs: map[string]string{}}
	if s.ports, err = portMap(bootstrap, opts.FreePorts); err != nil {
		return nil, err
	}
	// Readiness probes go by address: on a taken port they would reach
	// whatever holds it, so say which port is taken before starting anything.
	if err := portsFree(s.ports); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, defaultStartupWait)
	defer cancel()

	if err := s.StartCollector(ctx); err != nil {
		return nil, err
	}
	for _, r := range roles {
		addr := fmt.Sprintf("127.0.0.1:%d", s.ports[r.port])
		p, err := startProcess("app-"+r.name, filepath.Join(opts.BinDir, "sampleapp"),
			[]string{"--addr", addr, "--variant", r.variant, "--instance", r.variant + "-" + r.name}, opts.WorkDir)
		if err != nil {
			return nil, err
		}
		s.apps = append(s.apps, p)
		s.AppURLs[r.name] = "http://" + addr
		if err := waitUntil(ctx, p, httpOK("http://"+addr+"/health")); err != nil {
			return nil, err
		}
	}

	config := filepath.Join(opts.WorkDir, "envoy.yaml")
	if err := os.WriteFile(config, rewrite(bootstrap, s.ports, opts.BinDir), 0o644); err != nil {
		return nil, fmt.Errorf("write bootstrap: %w", err)
	}
	s.sidecar, err = startProcess("sidecar", filepath.Join(opts.BinDir, "sidecar"),
		[]string{"--config", config, "--compilation-cache", filepath.Join(opts.WorkDir, "wasm-cache")}, opts.WorkDir)
	if err != nil {
		return nil, err
	}
	s.AdminURL = fmt.Sprintf("http://127.0.0.1:%d", s.ports[PortAdmin])
	s.FrontURL = fmt.Sprintf("http://127.0.0.1:%d", s.ports[PortFront])
	if err := waitUntil(ctx, s.sidecar, httpOK(s.AdminURL+"/ready")); err != nil {
		return nil, err
	}
	// A child that lost its port after its probe passed has exited by now,
	// the sidecar taking far longer to start than a bind takes to fail.
	if err := s.running(); err != nil {
		return nil, err
	}
	return s, nil
}

// running returns an error for the first process of the stack that exited.
func (s *Stack) running() error {
	for _, p := range s.processes() {
		if err := p.exitedEarly(); err != nil {
			return err
		}
	}
	return nil
}

// portsFree returns an error wrapping ErrPortInUse for the first port of
// the map that cannot be bound on loopback.
func portsFree(ports map[int]int) error {
	orig := slices.Sorted(maps.Keys(ports))
	for _, o := range orig {
		p := ports[o]
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			name := portNames[o]
			if name == "" {
				name = "sidecar listener"
			}
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("port %d (%s) is taken, by another demo or stack perhaps: %w", p, name, ErrPortInUse)
			}
			return fmt.Errorf("port %d (%s): %w", p, name, err)
		}
		l.Close()
	}
	return nil
}

// StartCollector starts bin/collector on the stack's data directory and
// waits for its gRPC health check; tests use it to restart the collector.
func (s *Stack) StartCollector(ctx context.Context) error {
	if s.collector != nil {
		if exited, _ := s.collector.Exited(); !exited {
			return errors.New("collector is already running")
		}
	}
	s.CollectorAddr = fmt.Sprintf("127.0.0.1:%d", s.ports[PortCollectorGRPC])
	httpAddr := fmt.Sprintf("127.0.0.1:%d", s.ports[PortCollectorHTTP])
	s.ConsoleURL = "http://" + httpAddr + "/"
	args := append([]string{"--grpc-addr", s.CollectorAddr, "--http-addr", httpAddr,
		"--data-dir", s.dataDir, "--log-format", "text"}, s.opts.CollectorArgs...)
	p, err := startProcess("collector", filepath.Join(s.opts.BinDir, "collector"), args, s.opts.WorkDir)
	if err != nil {
		return err
	}
	s.collector = p
	return waitUntil(ctx, p, grpcServing(s.CollectorAddr))
}

// StopCollector stops the collector gracefully (it flushes what it acknowledged).
func (s *Stack) StopCollector() error {
	if s.collector == nil {
		return nil
	}
	return s.collector.Stop(stopGrace)
}

// StopApp stops the sample service of a role ("primary", "secondary",
// "candidate"), to test what its sidecar and the client see without it.
func (s *Stack) StopApp(role string) error {
	for _, p := range s.apps {
		if p.Name == "app-"+role {
			return p.Stop(stopGrace)
		}
	}
	return fmt.Errorf("no sample service with role %q", role)
}

// Logs lists the log files of the stack's processes, by process name.
func (s *Stack) Logs() map[string]string {
	logs := map[string]string{}
	for _, p := range s.processes() {
		logs[p.Name] = p.LogPath
	}
	return logs
}

func (s *Stack) processes() []*Process {
	var ps []*Process
	for _, p := range append([]*Process{s.sidecar, s.collector}, s.apps...) {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// Close stops every process: the sidecar first, so its last digests can
// still reach the collector, then the collector, then the services.
func (s *Stack) Close() error {
	var errs []error
	for _, p := range s.processes() {
		errs = append(errs, p.Stop(stopGrace))
	}
	return errors.Join(errs...)
}

// portMap maps each port of the bootstrap (and the collector's HTTP port,
// which the bootstrap does not name) to itself or to a free port.
func portMap(bootstrap []byte, free bool) (map[int]int, error) {
	ports := append(BootstrapPorts(bootstrap), PortCollectorHTTP)
	for _, want := range []int{PortFront, PortAppPrimary, PortAppSecondary, PortAppCandidate, PortCollectorGRPC, PortAdmin} {
		if !slices.Contains(ports, want) {
			return nil, fmt.Errorf("bootstrap has no port %d: it is not the local topology", want)
		}
	}
	if free {
		return FreePorts(ports, nil)
	}
	same := map[int]int{}
	for _, p := range ports {
		same[p] = p
	}
	return same, nil
}

// rewrite applies the port map and points the Wasm code at binDir.
func rewrite(bootstrap []byte, ports map[int]int, binDir string) []byte {
	abs, err := filepath.Abs(filepath.Join(binDir, "filter.wasm"))
	if err != nil {
		abs = filepath.Join(binDir, "filter.wasm")
	}
	return Rewrite(bootstrap, ports, abs)
}

func httpOK(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

func grpcServing(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("collector health: %s", resp.GetStatus())
		}
		return nil
	}
}
