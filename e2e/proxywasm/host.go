package proxywasm

import (
	"context"
	"fmt"
	"slices"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// hostFunc is one env.proxy_* host function.
type hostFunc struct {
	name   string
	params []api.ValueType
	// onlyABI, when set, restricts the function to one ABI version marker,
	// as proxy-wasm-cpp-host registers some functions per version.
	onlyABI string
	fn      func(ctx context.Context, v *vm, mod api.Module, p []uint64) status
}

// i32s returns n i32 parameter types.
func i32s(n int) []api.ValueType {
	t := make([]api.ValueType, n)
	for i := range t {
		t[i] = i32
	}
	return t
}

// hostFunctions lists every env.proxy_* function of the ABI, one group per file.
func hostFunctions() []hostFunc {
	return slices.Concat(
		lifecycleFuncs(),
		logFuncs(),
		timerFuncs(),
		bufferFuncs(),
		headerFuncs(),
		streamFuncs(),
		httpCallFuncs(),
		grpcFuncs(),
		sharedFuncs(),
		metricFuncs(),
		propertyFuncs(),
		foreignFuncs(),
	)
}

// vmKey carries the calling *vm in the context of every guest call.
type vmKey struct{}

func vmFromContext(ctx context.Context) *vm {
	v, _ := ctx.Value(vmKey{}).(*vm)
	if v == nil {
		panic("proxywasm: host function called outside a VM call")
	}
	return v
}

// instantiateHostModules registers env (proxy_*), and the WASI table's
// wasi_snapshot_preview1 and wasi_unstable in rt, and returns the env
// functions by name.
func instantiateHostModules(ctx context.Context, rt wazero.Runtime, wasi *wasiTable) (map[string]hostFunc, error) {
	if err := instantiateWasi(ctx, rt, wasi); err != nil {
		return nil, err
	}

	byName := map[string]hostFunc{}
	b := rt.NewHostModuleBuilder(hostModuleEnv)
	for _, h := range hostFunctions() {
		if _, dup := byName[h.name]; dup {
			return nil, fmt.Errorf("proxywasm: host function %s registered twice", h.name)
		}
		byName[h.name] = h
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				v := vmFromContext(ctx)
				v.restriction.check(hostModuleEnv, h.name)
				v.observe(h.name)
				stack[0] = uint64(h.fn(ctx, v, mod, stack))
			}), h.params, []api.ValueType{i32}).
			WithName(h.name).
			Export(h.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return nil, fmt.Errorf("proxywasm: instantiate %s host module: %w", hostModuleEnv, err)
	}
	return byName, nil
}

// checkImports fails with an error naming the import when the module needs
// something the host does not provide for its ABI version, as Envoy fails a
// module with a missing import at load time.
func checkImports(rt wazero.Runtime, compiled wazero.CompiledModule, abi string, env map[string]hostFunc) error {
	for _, m := range compiled.ImportedMemories() {
		mod, name, _ := m.Import()
		return fmt.Errorf("module imports memory %s.%s; the host provides none", mod, name)
	}
	for _, def := range compiled.ImportedFunctions() {
		mod, name, _ := def.Import()
		var want api.FunctionDefinition
		switch mod {
		case hostModuleEnv:
			h, ok := env[name]
			if !ok {
				return fmt.Errorf("module imports unknown host function %s.%s", mod, name)
			}
			if h.onlyABI != "" && h.onlyABI != abi {
				return fmt.Errorf("host function %s.%s is not available to a module exporting %s (only %s)", mod, name, abi, h.onlyABI)
			}
			want = rt.Module(hostModuleEnv).ExportedFunctionDefinitions()[name]
		case wasiModuleName, wasiUnstableModuleName:
			want = rt.Module(mod).ExportedFunctionDefinitions()[name]
			if want == nil {
				// Envoy's message (proxy-wasm-cpp-host src/v8/v8.cc link()).
				return fmt.Errorf("Failed to load Wasm module due to a missing import: %s.%s", mod, name)
			}
		default:
			return fmt.Errorf("module imports %s.%s from unknown module %q", mod, name, mod)
		}
		if !slices.Equal(def.ParamTypes(), want.ParamTypes()) || !slices.Equal(def.ResultTypes(), want.ResultTypes()) {
			return fmt.Errorf("import %s.%s has signature %s, the host provides %s",
				mod, name, signature(def), signature(want))
		}
	}
	return nil
}

func signature(d api.FunctionDefinition) string {
	names := func(ts []api.ValueType) string {
		s := "("
		for i, t := range ts {
			if i > 0 {
				s += ","
			}
			s += api.ValueTypeName(t)
		}
		return s + ")"
	}
	return names(d.ParamTypes()) + "->" + names(d.ResultTypes())
}
