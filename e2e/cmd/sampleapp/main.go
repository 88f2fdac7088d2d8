// Command sampleapp runs one instance of the demo shop service (see package
// e2e/sampleapp): v1 as the primary and its noise baseline, v2 as the
// candidate.
//
//	sampleapp --addr 127.0.0.1:18001 --variant v1 --instance v1-primary
//	sampleapp --print-manifest   # the injected changes and noise fields as JSON
//	sampleapp --load http://shop.shop:8080 --requests 3000   # send the demo's traffic mix
//
// --load turns the binary into the demo's load generator (the container
// image has no shell or curl): it sends sampleapp.Traffic to the URL and
// prints a status summary.
// Every flag can also be set by environment (SAMPLEAPP_ADDR,
// SAMPLEAPP_VARIANT, SAMPLEAPP_INSTANCE, SAMPLEAPP_LOG_LEVEL), which is how
// the Kubernetes example passes the pod name as the instance.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/sampleapp"
	"github.com/shadowdiff/shadowdiff/e2e/traffic"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sampleapp:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v, ok := os.LookupEnv("SAMPLEAPP_" + name); ok {
		return v
	}
	return def
}

func run(args []string) error {
	fs := flag.NewFlagSet("sampleapp", flag.ContinueOnError)
	addr := fs.String("addr", env("ADDR", "127.0.0.1:18001"), "listen address")
	variant := fs.String("variant", env("VARIANT", "v1"), "v1 or v2")
	instance := fs.String("instance", env("INSTANCE", ""), "instance name (default: the variant)")
	level := fs.String("log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error")
	manifest := fs.Bool("print-manifest", false, "print the injected changes and noise fields as JSON and exit")
	load := fs.String("load", "", "send the demo traffic mix to this base URL and exit")
	requests := fs.Int("requests", 2000, "with --load: number of requests")
	concurrency := fs.Int("concurrency", 8, "with --load: requests in flight")
	seed := fs.Uint64("seed", 1, "with --load: seed of the request mix")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *manifest {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sampleapp.Manifest())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *load != "" {
		return runLoad(ctx, *load, *requests, *concurrency, *seed)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.ToUpper(*level))); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	v, err := sampleapp.ParseVariant(*variant)
	if err != nil {
		return err
	}
	app, err := sampleapp.New(sampleapp.Config{Variant: v, Instance: *instance, Logger: log})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "variant", v, "instance", app.Stats().Instance)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// runLoad sends the traffic mix and prints how many requests got each status.
func runLoad(ctx context.Context, base string, n, concurrency int, seed uint64) error {
	reqs := sampleapp.Traffic(seed, n)
	bar := &traffic.Progress{W: os.Stderr, Total: len(reqs)}
	res, err := traffic.Run(ctx, &http.Client{Timeout: 30 * time.Second}, strings.TrimSuffix(base, "/"), reqs, concurrency, bar.Update)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	byStatus := map[int]int{}
	for _, r := range res.Responses {
		byStatus[r.Status]++
	}
	codes := slices.Sorted(maps.Keys(byStatus))
	fmt.Printf("sent %d requests in %s (%d transport errors)\n", len(reqs), res.Elapsed.Round(time.Millisecond), res.Errors())
	for _, c := range codes {
		if c != 0 {
			fmt.Printf("  %d: %d\n", c, byStatus[c])
		}
	}
	if res.Errors() == len(reqs) {
		return fmt.Errorf("load: every request failed, e.g. %v", res.Responses[0].Err)
	}
	return nil
}
