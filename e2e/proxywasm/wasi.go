package proxywasm

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// HostProfile is the Envoy version whose WASI surface the runtime models:
// which wasi_snapshot_preview1 functions proxy-wasm-cpp-host registers (a
// module importing any other fails to load) and which of them a module may
// call while _initialize or the allocator runs.
type HostProfile int

const (
	// EnvoyCurrent is Envoy with envoyproxy/envoy#45756 (merged
	// 2026-06-22), which brought in proxy-wasm-cpp-host#533 ("add all wasi
	// hostcalls used by Go SDK", merged 2026-03-27): a standard-Go module
	// loads. It is the default.
	EnvoyCurrent HostProfile = iota
	// EnvoyBefore45756 is Envoy before envoyproxy/envoy#45756: a module
	// importing sched_yield, poll_oneoff or fd_fdstat_set_flags, as every
	// standard-Go module does, fails to load.
	EnvoyBefore45756
)

func (p HostProfile) String() string {
	switch p {
	case EnvoyCurrent:
		return "envoy-current"
	case EnvoyBefore45756:
		return "envoy-before-45756"
	}
	return fmt.Sprintf("HostProfile(%d)", int(p))
}

// wasiTable is one proxy-wasm-cpp-host version's WASI surface.
type wasiTable struct {
	// funcs is FOR_ALL_WASI_FUNCTIONS (include/proxy-wasm/exports.h),
	// registered under wasi_snapshot_preview1 and wasi_unstable.
	funcs []string
	// start and alloc are the restricted-callback allowlists of
	// WasmBase::startVm (src/wasm.cc: _initialize, main, _start) and
	// WasmBase::allocMemory (include/proxy-wasm/wasm.h: malloc or
	// proxy_on_memory_allocate). env.proxy_log is allowed in both.
	start, alloc []string
}

// Before proxy-wasm-cpp-host#533 (proxy-wasm/proxy-wasm-cpp-host
// include/proxy-wasm/exports.h, src/wasm.cc, include/proxy-wasm/wasm.h).
var wasiBefore533 = wasiTable{
	funcs: strings.Fields(`fd_write fd_read fd_seek fd_close fd_fdstat_get environ_get
		environ_sizes_get args_get args_sizes_get clock_time_get random_get proc_exit path_open
		fd_prestat_get fd_prestat_dir_name`),
	start: strings.Fields(`fd_write args_sizes_get args_get environ_sizes_get environ_get
		fd_prestat_get fd_prestat_dir_name clock_time_get random_get`),
	alloc: strings.Fields(`fd_write clock_time_get`),
}

// After proxy-wasm-cpp-host#533. Its merged diff is not in the sources at
// hand, so this is the pre-#533 table plus exactly what a standard-Go
// module (filter.wasm) adds: sched_yield, poll_oneoff, fd_fdstat_set_flags.
// The PR it rebased (#433, as carried in higress-group/proxy-wasm-cpp-host)
// registers the rest of WASI preview 1 too, minus proc_raise, as stubs.
// The allowlists add what Go calls there (#427's and #433's threads; the
// startVm list matches shared/reference/proxy-wasm-abi.md §1.3, cpp-host
// 52a02917): fd_fdstat_get and fd_fdstat_set_flags while os init runs in
// _initialize, and poll_oneoff (runtime.usleep) in both, since the Go GC
// may sleep inside malloc (#433 lists it for allocMemory under
// wasi_unstable only; both names are allowed here). sched_yield stays out
// of both, as in #433.
var wasi533 = wasiTable{
	funcs: append(slices.Clone(wasiBefore533.funcs), "sched_yield", "poll_oneoff", "fd_fdstat_set_flags"),
	start: append(slices.Clone(wasiBefore533.start), "fd_fdstat_get", "fd_fdstat_set_flags", "poll_oneoff"),
	alloc: append(slices.Clone(wasiBefore533.alloc), "poll_oneoff"),
}

func (p HostProfile) wasi() (*wasiTable, error) {
	switch p {
	case EnvoyCurrent:
		return &wasi533, nil
	case EnvoyBefore45756:
		return &wasiBefore533, nil
	}
	return nil, fmt.Errorf("proxywasm: unknown host profile %d", int(p))
}

// restriction is an active restricted callback: the host calls it allows.
type restriction struct {
	during  string              // the callback, for the error
	allowed map[string]struct{} // WASI function names; env.proxy_log always
}

func newRestriction(during string, wasi []string) *restriction {
	r := &restriction{during: during, allowed: map[string]struct{}{}}
	for _, name := range wasi {
		r.allowed[name] = struct{}{}
	}
	return r
}

// check traps, as proxy-wasm-cpp-host's restricted callback does (src/v8/v8.cc
// traps with "restricted_callback"), when a call to module.name is not allowed.
func (r *restriction) check(module, name string) {
	if r == nil {
		return
	}
	if module == hostModuleEnv {
		if name == "proxy_log" {
			return
		}
	} else if _, ok := r.allowed[name]; ok {
		return
	}
	panic(fmt.Errorf("proxywasm: restricted_callback: %s.%s is not allowed during %s", module, name, r.during))
}

// wasiOverrides are the functions the profiles register whose
// proxy-wasm-cpp-host behaviour (src/exports.cc) differs from wazero's in
// ways a Go guest can see; the others delegate to wazero's implementation.
// cpp-host's proc_exit only logs and returns; wazero's ends the module,
// which is kept: a Go guest treats proc_exit as not returning.
var wasiOverrides = map[string]api.GoModuleFunc{
	// fd_fdstat_get answers only for stdout and stderr, as a write-only
	// file of unknown type with no flags (Go then treats them as blocking).
	"fd_fdstat_get": func(_ context.Context, mod api.Module, stack []uint64) {
		fd, out := uint32(stack[0]), uint32(stack[1])
		if fd != 1 && fd != 2 {
			stack[0] = wasiErrnoBadf
			return
		}
		var stat [24]byte
		stat[8] = wasiRightFdWrite // fs_rights_base
		if !mod.Memory().Write(out, stat[:]) {
			stack[0] = wasiErrnoFault
			return
		}
		stack[0] = wasiErrnoSuccess
	},
	"fd_fdstat_set_flags": wasiErrno(wasiErrnoNosys),
	"fd_read":             wasiErrno(wasiErrnoNosys),
	"fd_prestat_get":      wasiErrno(wasiErrnoBadf),
	"fd_prestat_dir_name": wasiErrno(wasiErrnoNosys),
	"path_open":           wasiErrno(wasiErrnoNoent),
	// fd_seek and fd_close succeed (Envoy only traces the call).
	"fd_seek":  wasiErrno(wasiErrnoSuccess),
	"fd_close": wasiErrno(wasiErrnoSuccess),
	// poll_oneoff reports no events at once, without sleeping
	// (proxy-wasm-cpp-host#433): a Go usleep or netpoll returns immediately.
	"poll_oneoff": func(_ context.Context, mod api.Module, stack []uint64) {
		if !mod.Memory().WriteUint32Le(uint32(stack[3]), 0) {
			stack[0] = wasiErrnoFault
			return
		}
		stack[0] = wasiErrnoSuccess
	},
}

// WASI errnos and rights (wasi-libc api.h).
const (
	wasiErrnoSuccess = 0
	wasiErrnoBadf    = 8
	wasiErrnoFault   = 21
	wasiErrnoNoent   = 44
	wasiErrnoNosys   = 52
	wasiRightFdWrite = 64
)

// wasiErrno is a function that only returns errno.
func wasiErrno(errno uint64) api.GoModuleFunc {
	return func(_ context.Context, _ api.Module, stack []uint64) { stack[0] = errno }
}

// wasiImpl is one WASI function as registered: its signature and behaviour.
type wasiImpl struct {
	params, results []api.ValueType
	fn              api.GoModuleFunction
}

// wasiImpls returns wazero's WASI functions by name, with the overrides. It
// compiles (but never instantiates) wazero's host module to reach them.
func wasiImpls(ctx context.Context, rt wazero.Runtime) (map[string]wasiImpl, error) {
	b := rt.NewHostModuleBuilder("proxywasm.wazero_wasi")
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	compiled, err := b.Compile(ctx)
	if err != nil {
		return nil, fmt.Errorf("proxywasm: compile wazero's WASI: %w", err)
	}
	defer compiled.Close(ctx)
	out := map[string]wasiImpl{}
	for name, def := range compiled.ExportedFunctions() {
		fn, ok := def.GoFunction().(api.GoModuleFunction)
		if o, over := wasiOverrides[name]; over {
			fn, ok = o, true
		}
		if !ok {
			return nil, fmt.Errorf("proxywasm: wazero's WASI %s is not a Go module function", name)
		}
		out[name] = wasiImpl{params: def.ParamTypes(), results: def.ResultTypes(), fn: fn}
	}
	return out, nil
}

// instantiateWasi registers the profile's WASI functions under
// wasi_snapshot_preview1 and wasi_unstable, as proxy-wasm-cpp-host does.
// Every call first passes the VM's active restriction.
func instantiateWasi(ctx context.Context, rt wazero.Runtime, table *wasiTable) error {
	impls, err := wasiImpls(ctx, rt)
	if err != nil {
		return err
	}
	for _, module := range []string{wasiModuleName, wasiUnstableModuleName} {
		b := rt.NewHostModuleBuilder(module)
		for _, name := range table.funcs {
			impl, ok := impls[name]
			if !ok {
				return fmt.Errorf("proxywasm: wazero has no WASI function %s", name)
			}
			b.NewFunctionBuilder().
				WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
					v := vmFromContext(ctx)
					v.restriction.check(module, name)
					v.observe(module + "." + name)
					impl.fn.Call(ctx, mod, stack)
				}), impl.params, impl.results).
				WithName(name).
				Export(name)
		}
		if _, err := b.Instantiate(ctx); err != nil {
			return fmt.Errorf("proxywasm: instantiate %s: %w", module, err)
		}
	}
	return nil
}

// moduleConfig is the WASI configuration of one VM: no arguments, the
// plugin's environment (Envoy's vm_config.environment_variables), real
// clocks and randomness, and fd 1/2 written to the logger.
func (p *Plugin) moduleConfig(name string, logger *slog.Logger) wazero.ModuleConfig {
	cfg := wazero.NewModuleConfig().
		WithName(name).
		WithStartFunctions().
		WithStdout(&logWriter{logger: logger, level: slog.LevelInfo, fd: 1}).
		WithStderr(&logWriter{logger: logger, level: slog.LevelError, fd: 2}).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithOsyield(runtime.Gosched).
		WithRandSource(rand.Reader)
	for _, k := range slices.Sorted(maps.Keys(p.cfg.Env)) {
		cfg = cfg.WithEnv(k, p.cfg.Env[k])
	}
	return cfg
}

// logWriter turns a guest's fd_write output into log records, one per line.
type logWriter struct {
	logger *slog.Logger
	level  slog.Level
	fd     int

	mu  sync.Mutex
	buf []byte
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	// Do not hold on to an unbounded partial line.
	if len(w.buf) > 64<<10 {
		w.emit(w.buf)
		w.buf = nil
	}
	return len(b), nil
}

func (w *logWriter) emit(line []byte) {
	w.logger.LogAttrs(context.Background(), w.level, string(line), slog.Int("fd", w.fd))
}
