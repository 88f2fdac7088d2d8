package envoy

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// WasmLoader builds the filter factory of one Wasm filter configuration.
// clusters are the server's clusters, for the plugin's callouts; they are
// the same on every call.
type WasmLoader func(ctx context.Context, clusters httpfilter.Clusters, cfg *WasmConfig) (httpfilter.Factory, error)

// Options are the server's hooks.
type Options struct {
	Logger *slog.Logger
	// AccessLogger receives one record per request of listeners with an
	// access_log; Logger if nil.
	AccessLogger *slog.Logger
	// WasmLoader is required when the configuration has Wasm filters.
	WasmLoader WasmLoader
	// ExtraStats adds lines to admin /stats (the Wasm plugins' metrics).
	ExtraStats func() []Stat
	// StreamID returns each stream's random id, which decides mirroring;
	// tests fix it. Default: a uniform random uint64.
	StreamID func() uint64
}

// Server is a running configuration: admin, clusters and listeners.
type Server struct {
	cfg      *Config
	opts     Options
	logger   *slog.Logger
	stats    *statStore
	clusters clusterSet

	admin     *http.Server
	adminAddr string
	listeners []*listener
	live      atomic.Bool
	connIDs   atomic.Uint64

	ctx            context.Context // mirrors and DNS refresh live in it
	stop           context.CancelFunc
	mirrorsRunning sync.WaitGroup
	chunks         chunkPool // buffers bodies are read into
	serving        sync.WaitGroup
}

// Start runs cfg: the admin listener first (/ready answers 503 until the
// rest is up), then the clusters, the filters, and the listeners. On error
// everything started is stopped.
func Start(ctx context.Context, cfg *Config, opts Options) (_ *Server, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.AccessLogger == nil {
		opts.AccessLogger = opts.Logger
	}
	if opts.StreamID == nil {
		opts.StreamID = rand.Uint64
	}
	s := &Server{cfg: cfg, opts: opts, logger: opts.Logger, stats: newStatStore(), clusters: clusterSet{}}
	s.ctx, s.stop = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			_ = s.Shutdown(context.Background())
		}
	}()
	if cfg.Admin != nil {
		if err := s.startAdmin(cfg.Admin.Address); err != nil {
			return nil, err
		}
	}
	for _, cc := range cfg.Clusters {
		c := newCluster(cc, s.stats, s.logger)
		s.clusters[cc.Name] = c
		if cc.Type == "STRICT_DNS" {
			c.resolveOnce(ctx)
			go c.refresh(s.ctx)
		}
	}
	for _, lc := range cfg.Listeners {
		l, err := s.newListener(ctx, lc)
		if err != nil {
			return nil, err
		}
		s.listeners = append(s.listeners, l)
	}
	for _, l := range s.listeners {
		if err := l.listen(); err != nil {
			return nil, err
		}
	}
	s.stats.gauge("server.live").Store(1)
	s.live.Store(true)
	s.logger.Info("all listeners up", "listeners", len(s.listeners), "clusters", len(s.clusters))
	return s, nil
}

// Addrs returns each listener's bound address by listener name.
func (s *Server) Addrs() map[string]string {
	out := make(map[string]string, len(s.listeners))
	for _, l := range s.listeners {
		if l.ln != nil {
			out[l.cfg.Name] = l.ln.Addr().String()
		}
	}
	return out
}

// AdminAddr returns the admin listener's bound address ("" without admin).
func (s *Server) AdminAddr() string { return s.adminAddr }

// Clusters returns the server's clusters.
func (s *Server) Clusters() httpfilter.Clusters { return s.clusters }

// Stats returns every statistic, the server's own and ExtraStats.
func (s *Server) Stats() []Stat {
	out := s.stats.snapshot()
	if s.opts.ExtraStats != nil {
		out = append(out, s.opts.ExtraStats()...)
	}
	return out
}

// Shutdown stops accepting, waits for in-flight requests and mirrors until
// ctx ends, then closes everything.
func (s *Server) Shutdown(ctx context.Context) error {
	s.live.Store(false)
	var errs []error
	for _, l := range s.listeners {
		if err := l.http.Shutdown(ctx); err != nil {
			// Streams still open at the deadline are cut.
			errs = append(errs, fmt.Errorf("listener %s: %w", l.cfg.Name, err), l.http.Close())
		}
	}
	waitGroup(ctx, &s.mirrorsRunning)
	s.stop()
	if s.admin != nil {
		if err := s.admin.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("admin: %w", err))
		}
	}
	s.serving.Wait()
	for _, c := range s.clusters {
		c.close()
	}
	return errors.Join(errs...)
}

func waitGroup(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// mirrorContext is the context of a shadow request: it outlives the
// downstream stream (fire and forget), bounded by the route timeout.
func (s *Server) mirrorContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeout(s.ctx, timeout)
	}
	return context.WithCancel(s.ctx)
}

func (s *Server) streamID() uint64 { return s.opts.StreamID() }

// newRequestID returns a UUID v4, as Envoy's x-request-id.
func (s *Server) newRequestID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	hex.Encode(out[9:13], b[4:6])
	hex.Encode(out[14:18], b[6:8])
	hex.Encode(out[19:23], b[8:10])
	hex.Encode(out[24:], b[10:16])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return string(out[:])
}

// loadWasm reads a Wasm filter's code and host environment and builds it.
func (s *Server) loadWasm(ctx context.Context, fc *FilterConfig) (httpfilter.Factory, error) {
	if s.opts.WasmLoader == nil {
		return nil, pathErrorf(fc.Path, "no Wasm runtime configured")
	}
	wc := *fc.Wasm
	wc.Env = make(map[string]string, len(fc.Wasm.Env))
	for k, v := range fc.Wasm.Env {
		wc.Env[k] = v
	}
	for _, k := range wc.HostEnvKeys {
		if v, ok := os.LookupEnv(k); ok {
			wc.Env[k] = v
		}
	}
	if wc.Code == nil {
		code, err := os.ReadFile(wc.CodeFile)
		if err != nil {
			return nil, pathErrorf(fc.Path, "read Wasm code: %w", err)
		}
		wc.Code = code
	}
	f, err := s.opts.WasmLoader(ctx, s.clusters, &wc)
	if err != nil {
		return nil, pathErrorf(fc.Path, "load Wasm plugin %q: %w", wc.Name, err)
	}
	return f, nil
}

func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}
