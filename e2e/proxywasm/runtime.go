package proxywasm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// RuntimeOptions configures a Runtime.
type RuntimeOptions struct {
	// CompilationCacheDir keeps compiled modules on disk; "" = in memory only.
	CompilationCacheDir string
	// Logger receives guest proxy_log and fd_write output with the attributes
	// plugin and vm_id. Nil discards it.
	Logger *slog.Logger
	// Clusters resolves the upstreams of proxy_http_call and proxy_grpc_*;
	// may be nil (every callout then fails as an unknown cluster).
	Clusters httpfilter.Clusters
	// Workers is the number of VMs per plugin, like Envoy's worker threads;
	// 0 means 2.
	Workers int
	// HostCallObserver, when set, is told of every host function a guest
	// calls (env functions by name, "proxy_log"; WASI ones with their
	// module, "wasi_snapshot_preview1.fd_write"), with the guest export
	// that was running ("proxy_on_done", "proxy_on_tick",
	// "proxy_on_memory_allocate"): tests use it to see in which callback a
	// plugin does its work. It runs under the VM lock.
	HostCallObserver func(guest, host string)
	// Profile is the Envoy version whose WASI surface is modelled; the
	// zero value is EnvoyCurrent.
	Profile HostProfile
}

// Runtime hosts Proxy-Wasm plugins. Plugins of one runtime share shared
// data and queues per vm_id, metrics by name and gRPC connections.
type Runtime struct {
	opts    RuntimeOptions
	logger  *slog.Logger
	rt      wazero.Runtime
	cache   wazero.CompilationCache
	env     map[string]hostFunc
	metrics *metricStore
	shared  *sharedStore
	conns   *grpcConns
	seq     atomic.Uint64

	// startRestriction and allocRestriction are the profile's allowlists
	// for module start and for the guest allocator.
	startRestriction, allocRestriction *restriction

	mu      sync.Mutex
	plugins map[*Plugin]struct{}
	closed  bool
}

// NewRuntime creates a wazero runtime with the env (proxy_*) and WASI host
// modules.
func NewRuntime(ctx context.Context, opts RuntimeOptions) (*Runtime, error) {
	if opts.Workers < 0 {
		return nil, fmt.Errorf("proxywasm: Workers must not be negative, got %d", opts.Workers)
	}
	if opts.Workers == 0 {
		opts.Workers = defaultWorkers
	}
	wasi, err := opts.Profile.wasi()
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := wazero.NewRuntimeConfig()
	var cache wazero.CompilationCache
	if opts.CompilationCacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CompilationCacheDir)
		if err != nil {
			return nil, fmt.Errorf("proxywasm: compilation cache %s: %w", opts.CompilationCacheDir, err)
		}
		cache = c
		cfg = cfg.WithCompilationCache(c)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	env, err := instantiateHostModules(ctx, rt, wasi)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	return &Runtime{
		opts:             opts,
		logger:           logger,
		rt:               rt,
		cache:            cache,
		env:              env,
		startRestriction: newRestriction("module start (_initialize)", wasi.start),
		allocRestriction: newRestriction("the guest allocator", wasi.alloc),
		metrics:          newMetricStore(),
		shared:           newSharedStore(),
		conns:            newGrpcConns(),
		plugins:          map[*Plugin]struct{}{},
	}, nil
}

// Close closes every plugin, the gRPC connections and the wazero runtime.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	plugins := make([]*Plugin, 0, len(r.plugins))
	for p := range r.plugins {
		plugins = append(plugins, p)
	}
	r.mu.Unlock()

	var errs []error
	for _, p := range plugins {
		errs = append(errs, p.Close(ctx))
	}
	errs = append(errs, r.conns.close())
	if err := r.rt.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("proxywasm: close wazero runtime: %w", err))
	}
	if r.cache != nil {
		if err := r.cache.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("proxywasm: close compilation cache: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (r *Runtime) addPlugin(p *Plugin) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("proxywasm: runtime is closed")
	}
	r.plugins[p] = struct{}{}
	return nil
}

func (r *Runtime) removePlugin(p *Plugin) {
	r.mu.Lock()
	delete(r.plugins, p)
	r.mu.Unlock()
}
