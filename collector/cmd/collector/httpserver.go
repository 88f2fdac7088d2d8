package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shadowdiff/shadowdiff/collector/console"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// httpHandler serves the web console at /, Prometheus metrics at /metrics
// and a liveness/readiness probe at /healthz (503 once shutting down).
// log is the base logger: the console adds component=console to it and the
// rest component=http, so each line carries one component. The console's
// options come from the flags (its logger is log).
func httpHandler(query shadowdiffv1.QueryServer, gatherer prometheus.Gatherer, serving func() bool, consoleOpts console.Options, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	// The metrics name endpoints and count regressions: behind the
	// console's guard against DNS rebinding too. Prometheus scrapes pod IPs.
	mux.Handle("GET /metrics", console.GuardHosts(consoleOpts.AllowedHosts, promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !serving() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("shutting down\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
	consoleOpts.Logger = log
	mux.Handle("/", console.New(query, consoleOpts))
	return mux
}

// newHTTPServer wraps the handler with timeouts. Request contexts derive
// from base, so cancelling base ends the console's live streams at shutdown.
// log is the base logger; the server's own errors get component=http.
func newHTTPServer(addr string, h http.Handler, base context.Context, log *slog.Logger) *http.Server {
	log = log.With("component", "http")
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(_ net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
