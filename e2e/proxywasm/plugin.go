package proxywasm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/tetratelabs/wazero"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// PluginConfig is one Wasm filter's configuration (Envoy's PluginConfig).
type PluginConfig struct {
	Name, RootID, VMID string
	// Code is the .wasm module.
	Code []byte
	// VMConfiguration is read in proxy_on_vm_start (buffer VM_CONFIGURATION).
	VMConfiguration []byte
	// Configuration is read in proxy_on_configure (buffer PLUGIN_CONFIGURATION).
	Configuration []byte
	// FailOpen lets traffic pass when the VM has failed; otherwise streams
	// get a local 503 (Envoy's FAIL_CLOSED).
	FailOpen bool
	// Env is the WASI environment (Envoy's vm_config.environment_variables).
	Env map[string]string
	// Node is the bootstrap's node, served whole as xds.node as Envoy does:
	// id, cluster and metadata whose values may be Structs, like Istio's
	// LABELS (xds.node.metadata.LABELS.version). May be nil.
	Node *corev3.Node
}

// Plugin is a loaded plugin: Workers VMs of one module. It is an
// httpfilter.Factory.
type Plugin struct {
	r        *Runtime
	cfg      PluginConfig
	abi      string
	logger   *slog.Logger
	compiled wazero.CompiledModule
	xdsNode  *corev3.Node // xds.node, read-only
	vms      []*vm
	next     atomic.Uint32

	closeOnce sync.Once
	closeErr  error
}

var _ httpfilter.Factory = (*Plugin)(nil)

// Load compiles the module and starts Workers VMs. It fails when the module
// imports something the host does not provide, traps during start, or
// returns false from proxy_on_vm_start or proxy_on_configure.
func (r *Runtime) Load(ctx context.Context, cfg PluginConfig) (*Plugin, error) {
	p := &Plugin{
		r:       r,
		cfg:     cfg,
		logger:  r.logger.With("plugin", cfg.Name, "vm_id", cfg.VMID),
		xdsNode: xdsNode(cfg.Node),
	}
	compiled, err := r.rt.CompileModule(ctx, cfg.Code)
	if err != nil {
		return nil, fmt.Errorf("proxywasm: plugin %q: compile: %w", cfg.Name, err)
	}
	p.compiled = compiled
	if err := p.check(); err != nil {
		_ = compiled.Close(ctx)
		return nil, fmt.Errorf("proxywasm: plugin %q: %w", cfg.Name, err)
	}
	if err := r.addPlugin(p); err != nil {
		_ = compiled.Close(ctx)
		return nil, err
	}
	for i := range r.opts.Workers {
		v, err := p.newVM(ctx, i)
		if err != nil {
			_ = p.Close(ctx)
			return nil, fmt.Errorf("proxywasm: plugin %q: VM %d: %w", cfg.Name, i, err)
		}
		p.vms = append(p.vms, v)
	}
	return p, nil
}

// check verifies the ABI version marker, the memory export and the imports.
func (p *Plugin) check() error {
	exports := p.compiled.ExportedFunctions()
	switch {
	case exports[abiVersion021] != nil:
		p.abi = abiVersion021
	case exports[abiVersion020] != nil:
		p.abi = abiVersion020
	case exports[abiVersion010] != nil:
		return fmt.Errorf("module exports %s; this host implements ABI 0.2.x only", abiVersion010)
	default:
		return fmt.Errorf("module exports no ABI version marker (%s or %s)", abiVersion020, abiVersion021)
	}
	if _, ok := p.compiled.ExportedMemories()["memory"]; !ok {
		return errors.New(`module does not export its linear memory as "memory"`)
	}
	return checkImports(p.r.rt, p.compiled, p.abi, p.r.env)
}

func (p *Plugin) newVM(ctx context.Context, index int) (*vm, error) {
	v := &vm{
		p:        p,
		index:    index,
		logger:   p.logger.With("worker", index),
		streams:  map[uint32]*stream{},
		callouts: map[uint32]callout{},
		metrics:  map[uint32]*metric{},
		exec:     newExecutor(),
	}
	v.nextCall = [3]uint32{calloutHTTPCall, calloutGrpcCall, calloutGrpcStream}
	v.nextMetID = [3]uint32{uint32(Counter), uint32(Gauge), uint32(Histogram)}
	v.calloutCtx, v.cancelCallouts = context.WithCancel(context.Background())
	v.ctx = context.WithValue(context.Background(), vmKey{}, v)
	name := fmt.Sprintf("%s#%d/%d", p.cfg.Name, p.r.seq.Add(1), index)
	mod, err := p.r.rt.InstantiateModule(v.ctx, p.compiled, p.moduleConfig(name, v.logger))
	if err != nil {
		v.exec.stop()
		v.cancelCallouts()
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	v.mod = mod
	if err := v.start(); err != nil {
		_ = v.close(ctx)
		return nil, err
	}
	return v, nil
}

// Close closes the plugin's VMs and its compiled module.
func (p *Plugin) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		var errs []error
		for _, v := range p.vms {
			errs = append(errs, v.close(ctx))
		}
		p.r.shared.forgetPlugin(p)
		if err := p.compiled.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("proxywasm: close compiled module: %w", err))
		}
		p.r.removePlugin(p)
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}
