// Command collector is the shadowdiff collector: it receives response
// digests from the shadowdiff filter over gRPC, pairs and diffs them,
// stores the results and serves them (gRPC query API, web console,
// Prometheus metrics). Run `collector --help` for its flags.
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
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/shadowdiff/shadowdiff/collector/internal/buildinfo"
)

func main() {
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code (0 after a
// clean shutdown, --help or --version, 1 on a runtime failure, 2 on bad settings).
// The usage goes to stdout, so that `collector --help | less` shows it; a
// bad setting gets one line per problem on stderr, not the usage.
func run(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, lookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(stdout)
		return 0
	}
	if err == nil && cfg.version {
		fmt.Fprintln(stdout, buildinfo.Read().String("collector"))
		return 0
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "collector: %s\n", line)
		}
		fmt.Fprintln(stderr, "run 'collector --help' for usage")
		return 2
	}
	log := newLogger(cfg, stderr)
	planMemory(os.Getenv, os.ReadFile, debug.SetMemoryLimit(-1)).apply(log) // the runtime reads the real environment
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log, stop, nil); err != nil {
		log.Error("collector failed", "error", err)
		return 1
	}
	return 0
}

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.logFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	opts.ReplaceAttr = durationsAsText
	return slog.New(slog.NewJSONHandler(w, opts))
}

// durationsAsText writes durations as the flags take them ("20s"): the
// JSON handler writes nanoseconds, which nobody reads at a glance.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}
