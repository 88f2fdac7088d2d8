package envoy

// The upstream apps of BenchmarkSidecarCPU run in a child process (this
// test binary, re-executed), so the benchmark process's CPU time is the
// client's and the sidecar's only.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
)

// benchAppEnv, when set in the environment, makes the test binary serve
// benchAppCount apps instead of running tests.
const (
	benchAppEnv   = "SHADOWDIFF_ENVOY_BENCH_APP"
	benchAppCount = 3
)

func TestMain(m *testing.M) {
	if os.Getenv(benchAppEnv) != "" {
		if err := serveBenchApps(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench app:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveBenchApps listens on benchAppCount loopback ports, writes their
// addresses on one line of out, and serves until in is closed. Each app
// reads the request body and answers JSON of ?size= bytes (1 KiB default).
func serveBenchApps(in io.Reader, out io.Writer) error {
	bodies := map[int][]byte{}
	for _, size := range []int{1 << 10, 64 << 10} {
		bodies[size] = testenv.JSONBody(size)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		size, err := strconv.Atoi(r.URL.Query().Get("size"))
		if err != nil {
			size = 1 << 10
		}
		body, ok := bodies[size]
		if !ok {
			http.Error(w, "unknown size", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	addrs := make([]string, 0, benchAppCount)
	for range benchAppCount {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		addrs = append(addrs, ln.Addr().String())
		go func() { _ = http.Serve(ln, handler) }()
	}
	if _, err := fmt.Fprintln(out, strings.Join(addrs, " ")); err != nil {
		return fmt.Errorf("write addresses: %w", err)
	}
	_, _ = io.Copy(io.Discard, in) // the parent closes stdin (or exits)
	return nil
}

// startBenchApps runs serveBenchApps in a child process and returns the
// apps' addresses; the child stops when the benchmark ends.
func startBenchApps(b *testing.B) []string {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), benchAppEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start bench apps: %v", err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("bench apps: %v", err)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		b.Fatalf("read bench app addresses: %v", err)
	}
	addrs := strings.Fields(line)
	if len(addrs) != benchAppCount {
		b.Fatalf("bench apps said %q, want %d addresses", line, benchAppCount)
	}
	return addrs
}
