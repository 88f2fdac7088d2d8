package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shadowdiff/shadowdiff/collector/engine"
	"github.com/shadowdiff/shadowdiff/collector/internal/buildinfo"
	"github.com/shadowdiff/shadowdiff/collector/server"
)

// listening reports the bound addresses once the collector serves (tests
// listen on port 0); httpAddr is nil without an HTTP listener.
type listening func(grpcAddr, httpAddr net.Addr)

// serve runs the collector until ctx ends or a listener fails, then shuts
// down: health NOT_SERVING, graceful stop within --shutdown-timeout, and
// the store closed, which flushes everything acknowledged. unsignal is
// called when shutdown begins, so a second signal kills the process.
func serve(ctx context.Context, cfg *config, log *slog.Logger, unsignal func(), ready listening) (err error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	creds, err := transportCredentials(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.dataDir, 0o750); err != nil {
		return fmt.Errorf("create --data-dir: %w", err)
	}
	eng, err := engine.Open(cfg.dataDir, engine.Options{
		PairWindow:      cfg.pairWindow,
		MaxPending:      cfg.maxPending,
		Retention:       cfg.retention,
		SamplesPerField: cfg.samplesPerField,
		Confidence:      cfg.confidence,
		MinSamples:      cfg.minSamples,
		// The flags' 0 (off) is the engine's negative (its 0 is the default).
		AutoTemplateThreshold: offIfZero(cfg.autoTemplate),
		MaxEndpoints:          offIfZero(cfg.maxEndpoints),
		Logger:                log.With("component", "engine"),
		Registerer:            reg,
	})
	if err != nil {
		return fmt.Errorf("open the store in %s: %w", cfg.dataDir, err)
	}
	defer func() {
		if cerr := eng.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close the store: %w", cerr))
			return
		}
		log.Info("store closed", "data_dir", cfg.dataDir)
	}()

	query := eng.QueryServer()
	srv, err := server.New(eng, query, server.Options{
		MaxBatchDigests: cfg.maxBatchDigests,
		MaxRecvBytes:    int(cfg.maxRecvBytes),
		Validate:        engine.Validate,
		Creds:           creds,
		Logger:          log,
		Registerer:      reg,
	})
	if err != nil {
		return err
	}
	grpcL, err := net.Listen("tcp", cfg.grpcAddr)
	if err != nil {
		return fmt.Errorf("listen on --grpc-addr: %w", err)
	}
	var httpL net.Listener
	if cfg.httpAddr != "" {
		if httpL, err = net.Listen("tcp", cfg.httpAddr); err != nil {
			grpcL.Close()
			return fmt.Errorf("listen on --http-addr: %w", err)
		}
	}

	failed := make(chan error, 2)
	go func() {
		if err := srv.Serve(grpcL); err != nil {
			failed <- err
		}
	}()
	httpBase, endHTTPStreams := context.WithCancel(context.Background())
	defer endHTTPStreams()
	var hs *http.Server
	var httpAddr net.Addr
	if httpL != nil {
		httpAddr = httpL.Addr()
		hs = newHTTPServer(httpL.Addr().String(), httpHandler(query, reg, srv.Serving, cfg.consoleOptions(), log), httpBase, log)
		go func() {
			if err := hs.Serve(httpL); !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("http serve: %w", err)
			}
		}()
	}
	version := buildinfo.Read()
	log.Info("collector serving", "version", version.Version, "revision", version.Revision, "grpc_addr", grpcL.Addr().String(), "http_addr", addrString(httpAddr),
		"data_dir", cfg.dataDir, "tls", creds != nil, "mutual_tls", cfg.tlsClientCA != "", "console_read_only", cfg.consoleReadOnly)
	if ready != nil {
		ready(grpcL.Addr(), httpAddr)
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.shutdownTimeout)
	case runErr = <-failed:
		log.Error("listener failed; shutting down", "error", runErr)
	}
	unsignal()

	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	endHTTPStreams()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("gRPC calls cancelled at the shutdown deadline", "error", err)
	}
	if hs != nil {
		if err := hs.Shutdown(sctx); err != nil {
			log.Warn("HTTP requests cut at the shutdown deadline", "error", err)
			hs.Close()
		}
	}
	return runErr
}

func offIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
