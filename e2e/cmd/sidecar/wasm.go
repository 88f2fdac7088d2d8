package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/shadowdiff/shadowdiff/e2e/envoy"
	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
	"github.com/shadowdiff/shadowdiff/e2e/proxywasm"
)

// wasmHost connects e2e/envoy's Wasm filter configurations to one
// proxywasm runtime, created on the first plugin (it needs the clusters).
// Every plugin is served the bootstrap's node as xds.node.
type wasmHost struct {
	cacheDir string
	workers  int
	node     *corev3.Node // may be nil
	logger   *slog.Logger

	mu      sync.Mutex // serialises load and close
	rt      atomic.Pointer[proxywasm.Runtime]
	plugins []*proxywasm.Plugin
}

func newWasmHost(cacheDir string, workers int, node *corev3.Node, logger *slog.Logger) *wasmHost {
	return &wasmHost{cacheDir: cacheDir, workers: workers, node: node, logger: logger}
}

// load implements envoy.WasmLoader.
func (h *wasmHost) load(ctx context.Context, clusters httpfilter.Clusters, wc *envoy.WasmConfig) (httpfilter.Factory, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rt.Load() == nil {
		rt, err := proxywasm.NewRuntime(ctx, proxywasm.RuntimeOptions{
			CompilationCacheDir: h.cacheDir,
			Logger:              h.logger,
			Clusters:            clusters,
			Workers:             h.workers,
		})
		if err != nil {
			return nil, fmt.Errorf("wasm runtime: %w", err)
		}
		h.rt.Store(rt)
	}
	p, err := h.rt.Load().Load(ctx, proxywasm.PluginConfig{
		Name:            wc.Name,
		RootID:          wc.RootID,
		VMID:            wc.VMID,
		Code:            wc.Code,
		VMConfiguration: wc.VMConfiguration,
		Configuration:   wc.Configuration,
		FailOpen:        wc.FailOpen,
		Env:             wc.Env,
		Node:            h.node,
	})
	if err != nil {
		return nil, err
	}
	h.plugins = append(h.plugins, p)
	return p, nil
}

// stats implements envoy.Options.ExtraStats: the plugins' counters and
// gauges as Envoy shows them, "wasmcustom.<name>". Histograms, which
// Envoy prints as quantiles, are left out.
func (h *wasmHost) stats() []envoy.Stat {
	rt := h.rt.Load()
	if rt == nil {
		return nil
	}
	var out []envoy.Stat
	for _, m := range rt.Metrics() {
		if m.Type == proxywasm.Histogram {
			continue
		}
		out = append(out, envoy.Stat{Name: "wasmcustom." + m.Name, Value: m.Value})
	}
	return out
}

func (h *wasmHost) close(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.plugins {
		if err := p.Close(ctx); err != nil {
			h.logger.Warn("close plugin", "err", err)
		}
	}
	if rt := h.rt.Load(); rt != nil {
		if err := rt.Close(ctx); err != nil {
			h.logger.Warn("close wasm runtime", "err", err)
		}
	}
}
