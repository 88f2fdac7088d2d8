// Command sidecar is the harness's Envoy stand-in: it runs an Envoy
// bootstrap v3 YAML (the subset documented in e2e/envoy) with its Wasm HTTP
// filters on the wazero Proxy-Wasm host (e2e/proxywasm).
//
//	sidecar --config envoy/local.yaml [--compilation-cache DIR] [--log-level info] [--concurrency 2]
//
// Access log records go to stdout, everything else to stderr. The admin
// listener serves /stats (with the plugins' metrics as wasmcustom.<name>)
// and /ready. SIGINT or SIGTERM drain in-flight requests and mirrors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/envoy"
)

const shutdownGrace = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sidecar:", err)
		}
		os.Exit(1)
	}
}

type flags struct {
	config, cache, logLevel string
	concurrency             int
	flushInterval           time.Duration
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "Envoy bootstrap v3 YAML file (required)")
	fs.StringVar(&f.config, "c", "", "shorthand for --config, as Envoy's -c")
	fs.StringVar(&f.cache, "compilation-cache", "", "directory caching compiled Wasm modules (faster restarts)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&f.concurrency, "concurrency", 2, "VMs per Wasm plugin, like Envoy's worker threads")
	flushMillis := fs.Int("file-flush-interval-msec", 1000, "interval of access log flushes, as Envoy's flag (Envoy's default is 10000)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if f.config == "" {
		return f, errors.New("--config is required")
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if f.concurrency < 1 {
		return f, fmt.Errorf("--concurrency must be at least 1, got %d", f.concurrency)
	}
	if *flushMillis < 1 {
		return f, fmt.Errorf("--file-flush-interval-msec must be at least 1, got %d", *flushMillis)
	}
	f.flushInterval = time.Duration(*flushMillis) * time.Millisecond
	return f, nil
}

// run starts the sidecar and blocks until ctx ends, then shuts it down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := envoy.LoadFile(f.config)
	if err != nil {
		return err
	}
	host := newWasmHost(f.cache, f.concurrency, cfg.Node, logger.With("component", "wasm"))
	accessLog := newFlushWriter(stdout, f.flushInterval)
	defer accessLog.Close()
	srv, err := envoy.Start(ctx, cfg, envoy.Options{
		Logger:       logger,
		AccessLogger: slog.New(slog.NewTextHandler(accessLog, nil)),
		WasmLoader:   host.load,
		ExtraStats:   host.stats,
	})
	if err != nil {
		host.close(context.Background())
		return err
	}
	logger.Info("sidecar ready", "config", f.config, "admin", srv.AdminAddr(), "listeners", srv.Addrs())
	<-ctx.Done()
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err = srv.Shutdown(sctx)
	host.close(sctx)
	return err
}
