package testenv

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/engine"
	"github.com/shadowdiff/shadowdiff/collector/server"
)

// StartCollector runs the collector's gRPC server over its real engine (in
// a temporary directory) on 127.0.0.1:0 until the test ends and returns its
// address.
func StartCollector(tb testing.TB) string {
	tb.Helper()
	quiet := slog.New(slog.DiscardHandler)
	eng, err := engine.Open(tb.TempDir(), engine.Options{Logger: quiet})
	if err != nil {
		tb.Fatalf("open engine: %v", err)
	}
	srv, err := server.New(eng, eng.QueryServer(), server.Options{Validate: engine.Validate, Logger: quiet})
	if err != nil {
		_ = eng.Close()
		tb.Fatalf("collector server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = eng.Close()
		tb.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("collector shutdown: %v", err)
		}
		if err := <-served; err != nil {
			tb.Errorf("collector serve: %v", err)
		}
		if err := eng.Close(); err != nil {
			tb.Errorf("close engine: %v", err)
		}
	})
	return ln.Addr().String()
}
