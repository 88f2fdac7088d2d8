package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
	"github.com/shadowdiff/shadowdiff/e2e/stack"
)

// Knobs of the pipeline benchmarks: go test -bench . ./e2e/bench/ -args -duration 10s
var (
	duration = flag.Duration("duration", 5*time.Second, "length of each measured load run")
	warmup   = flag.Duration("warmup", time.Second, "load sent before each measured run (not measured)")
	workers  = flag.Int("workers", 16, "clients of the closed-loop (max throughput) runs")
	inflight = flag.Int("max-inflight", 512, "bound on an open-loop run's outstanding requests (they wait, and the wait counts)")
	maxLag   = flag.Duration("max-lag", 5*time.Second, "an open-loop request not started this long after it was due is given up (counted as failed)")
)

// collectorArgs are e2e's: a 2 s pairing window closes incomplete requests
// quickly, which the digest benchmark waits for.
var collectorArgs = []string{"--pair-window", "2s", "--min-samples", "50"}

// localYAML is the topology with shadowdiff on, relative to this package.
const localYAML = "../../envoy/local.yaml"

// benchEnv holds the binaries and the stacks the benchmarks share: one
// stack per mode, started on first use and stopped by TestMain.
type benchEnv struct {
	binDir string
	work   string

	mu     sync.Mutex
	stacks map[string]*stack.Stack
	errs   map[string]error
}

var env *benchEnv

// TestMain builds the binaries from this tree, but only when benchmarks
// were asked for: plain `go test` runs just the unit tests, in seconds.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	os.Exit(runWithStacks(m))
}

func runWithStacks(m *testing.M) int {
	work, err := os.MkdirTemp("", "shadowdiff-bench")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	env = &benchEnv{binDir: filepath.Join(work, "bin"), work: work, stacks: map[string]*stack.Stack{}, errs: map[string]error{}}
	code := 1
	if err := testenv.BuildStack(env.binDir); err != nil {
		fmt.Fprintln(os.Stderr, "bench: build:", err)
	} else {
		code = m.Run()
		env.close()
	}
	if code == 0 {
		os.RemoveAll(work)
	} else {
		fmt.Fprintf(os.Stderr, "bench: failed; the stacks' logs are kept in %s\n", work)
	}
	return code
}

// Modes of the topology.
const (
	modeOn      = "on"      // envoy/local.yaml: mirrors and the Wasm filters
	modeOff     = "off"     // WithoutShadowdiff(envoy/local.yaml)
	modeMirrors = "mirrors" // mirrors only: the Wasm filters removed
	modeFilters = "filters" // the Wasm filters only: the mirrors removed
)

// removals derive each mode's bootstrap from envoy/local.yaml.
var removals = map[string]Removal{
	modeOff:     {WasmFilters: true, Mirrors: true},
	modeMirrors: {WasmFilters: true},
	modeFilters: {Mirrors: true},
}

// stackFor returns the running stack of a mode, starting it on first use.
func stackFor(b *testing.B, mode string) *stack.Stack {
	b.Helper()
	if env == nil {
		b.Skip("pipeline benchmarks need -bench (TestMain builds the binaries then)")
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	if st, ok := env.stacks[mode]; ok {
		return st
	}
	if err, ok := env.errs[mode]; ok {
		b.Fatalf("stack %s: %v", mode, err)
	}
	st, err := env.start(mode)
	if err != nil {
		env.errs[mode] = err
		b.Fatalf("stack %s: %v", mode, err)
	}
	env.stacks[mode] = st
	return st
}

func (e *benchEnv) start(mode string) (*stack.Stack, error) {
	work := filepath.Join(e.work, mode)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	config, err := filepath.Abs(localYAML)
	if err != nil {
		return nil, err
	}
	if r, ok := removals[mode]; ok {
		data, err := os.ReadFile(config)
		if err != nil {
			return nil, err
		}
		variant, err := Strip(data, r)
		if err != nil {
			return nil, err
		}
		config = filepath.Join(work, "bootstrap-"+mode+".yaml")
		if err := os.WriteFile(config, variant, 0o644); err != nil {
			return nil, err
		}
	}
	return stack.Start(context.Background(), stack.Options{
		BinDir: e.binDir, EnvoyConfig: config, WorkDir: work, FreePorts: true, CollectorArgs: collectorArgs,
	})
}

func (e *benchEnv) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for mode, st := range e.stacks {
		if err := st.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: stop stack %s: %v\n", mode, err)
		}
	}
}
