// Command demo runs shadowdiff end to end on this machine: the collector
// with its embedded store, three sample services (v1, a second v1, v2)
// behind one harness sidecar running bin/filter.wasm, a few thousand
// requests through the mirroring listener, and the diff report.
//
//	bin/demo [--requests 3000] [--keep] [--collector-arg=--max-endpoints=50 ...]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shadowdiff/shadowdiff/e2e/report"
	"github.com/shadowdiff/shadowdiff/e2e/sampleapp"
	"github.com/shadowdiff/shadowdiff/e2e/stack"
	"github.com/shadowdiff/shadowdiff/e2e/traffic"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "\ndemo interrupted; everything it started is stopped")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binDir := fs.String("bin", "bin", "directory with collector, sidecar, sampleapp and filter.wasm (make build)")
	envoyConfig := fs.String("envoy", "envoy/local.yaml", "Envoy bootstrap of the local topology")
	workDir := fs.String("workdir", "bin/demo-run", "where the collector's data and the logs go (emptied first)")
	requests := fs.Int("requests", 3000, "requests to send through the mirroring listener")
	concurrency := fs.Int("concurrency", 16, "requests in flight")
	seed := fs.Uint64("seed", 1, "seed of the request mix")
	freePorts := fs.Bool("free-ports", false, "use free ports instead of the bootstrap's (9090, 9091, 10000, ...)")
	keep := fs.Bool("keep", false, "keep the stack running after the report, until Ctrl-C, to browse the console")
	var collectorArgs repeated
	fs.Var(&collectorArgs, "collector-arg", "an extra flag for bin/collector, after the demo's own (repeat it: --collector-arg=--max-endpoints=50)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // usage printed, as asked
		}
		return err
	}

	if err := os.RemoveAll(*workDir); err != nil {
		return fmt.Errorf("empty %s: %w", *workDir, err)
	}
	if err := os.MkdirAll(*workDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", *workDir, err)
	}
	fmt.Fprintf(stdout, "Starting the collector, sample services v1, v1 (secondary), v2 and the sidecar (logs in %s)\n", *workDir)
	st, err := stack.Start(ctx, stack.Options{
		BinDir: *binDir, EnvoyConfig: *envoyConfig, WorkDir: *workDir, FreePorts: *freePorts,
		// Short window: the demo reports incomplete pairs seconds after the traffic.
		CollectorArgs: append([]string{"--pair-window", "3s", "--min-samples", "50"}, collectorArgs...),
		Logger:        slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		if errors.Is(err, stack.ErrPortInUse) && !*freePorts {
			return fmt.Errorf("%w\n(stop the other demo, or run this one with --free-ports)", err)
		}
		return err
	}
	defer func() {
		fmt.Fprintln(stdout, "Stopping the stack")
		if err := st.Close(); err != nil {
			fmt.Fprintln(stderr, "demo: stop:", err)
		}
	}()

	reqs := sampleapp.Traffic(*seed, *requests)
	fmt.Fprintf(stdout, "Sending %d requests to %s (mirrored to the secondary and the candidate)\n", len(reqs), st.FrontURL)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}
	bar := &traffic.Progress{W: stdout, Total: len(reqs)}
	res, err := traffic.Run(ctx, client, st.FrontURL, reqs, *concurrency, bar.Update)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  %d requests in %s, %d transport errors, p50 %s, p99 %s\n\n",
		len(res.Responses), res.Elapsed.Round(time.Millisecond), res.Errors(),
		res.Percentile(50).Round(time.Microsecond), res.Percentile(99).Round(time.Microsecond))

	conn, err := grpc.NewClient(st.CollectorAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connect to the collector: %w", err)
	}
	defer conn.Close()
	query := shadowdiffv1.NewQueryClient(conn)
	rep, err := report.Collect(ctx, query, uint64(len(reqs)), 20*time.Second)
	if err != nil {
		return err
	}
	rep.Write(stdout)
	if !*keep {
		// The stack stops now: point at how to keep it, not at a console
		// about to be gone.
		fmt.Fprintln(stdout, "\nTo browse this in the web console and the CLI, run `make demo DEMO_FLAGS=--keep` (or bin/demo --keep): the stack then keeps running.")
		return nil
	}
	fmt.Fprintf(stdout, "\nConsole: %s   CLI: %s --collector %s endpoints\n",
		st.ConsoleURL, filepath.Join(*binDir, "shadowdiff"), st.CollectorAddr)
	fmt.Fprintln(stdout, "The stack keeps running; press Ctrl-C to stop it.")
	<-ctx.Done()
	return nil
}

// repeated is a flag that may be given many times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, " ") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }
