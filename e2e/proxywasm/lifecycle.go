package proxywasm

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// exportSpec describes a callback the host may call.
type exportSpec struct {
	name            string
	params, results int
	dst             *api.Function
}

func (v *vm) exportSpecs() []exportSpec {
	f := &v.fns
	return []exportSpec{
		{"proxy_on_context_create", 2, 0, &f.onContextCreate},
		{"proxy_on_done", 1, 1, &f.onDone},
		{"proxy_on_log", 1, 0, &f.onLog},
		{"proxy_on_delete", 1, 0, &f.onDelete},
		{"proxy_on_vm_start", 2, 1, &f.onVMStart},
		{"proxy_on_configure", 2, 1, &f.onConfigure},
		{"proxy_on_tick", 1, 0, &f.onTick},
		{"proxy_on_queue_ready", 2, 0, &f.onQueueReady},
		{"proxy_on_request_headers", 3, 1, &f.onRequestHeaders},
		{"proxy_on_request_body", 3, 1, &f.onRequestBody},
		{"proxy_on_request_trailers", 2, 1, &f.onRequestTrailers},
		{"proxy_on_response_headers", 3, 1, &f.onResponseHeaders},
		{"proxy_on_response_body", 3, 1, &f.onResponseBody},
		{"proxy_on_response_trailers", 2, 1, &f.onResponseTrailers},
		{"proxy_on_http_call_response", 5, 0, &f.onHTTPCallResponse},
		{"proxy_on_grpc_receive_initial_metadata", 3, 0, &f.onGrpcInitialMetadata},
		{"proxy_on_grpc_receive", 3, 0, &f.onGrpcReceive},
		{"proxy_on_grpc_receive_trailing_metadata", 3, 0, &f.onGrpcTrailing},
		{"proxy_on_grpc_close", 3, 0, &f.onGrpcClose},
		{"proxy_on_foreign_function", 3, 0, &f.onForeignFunction},
	}
}

// lookupExports binds the module's callbacks and checks their signatures.
func (v *vm) lookupExports() error {
	for _, e := range v.exportSpecs() {
		fn := v.mod.ExportedFunction(e.name)
		if fn == nil {
			continue
		}
		if err := checkI32Signature(e.name, fn.Definition(), e.params, e.results); err != nil {
			return err
		}
		*e.dst = fn
	}
	// proxy-wasm-cpp-host looks up malloc first (the spec says otherwise).
	for _, name := range []string{"malloc", "proxy_on_memory_allocate"} {
		if fn := v.mod.ExportedFunction(name); fn != nil {
			if err := checkI32Signature(name, fn.Definition(), 1, 1); err != nil {
				return err
			}
			v.fns.alloc = fn
			return nil
		}
	}
	return fmt.Errorf("module exports no allocator (missing malloc or proxy_on_memory_allocate)")
}

func checkI32Signature(name string, d api.FunctionDefinition, params, results int) error {
	ok := len(d.ParamTypes()) == params && len(d.ResultTypes()) == results
	for _, t := range append(d.ParamTypes(), d.ResultTypes()...) {
		ok = ok && t == i32
	}
	if !ok {
		return fmt.Errorf("export %s has signature %s, want %d i32 params and %d i32 results",
			name, signature(d), params, results)
	}
	return nil
}

// start runs Envoy's startup sequence: the WASI reactor (or command) start,
// the allocator lookup, the root context, on_vm_start and on_configure.
func (v *vm) start() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.moduleStart(); err != nil {
		return err
	}
	if err := v.lookupExports(); err != nil {
		return err
	}

	v.nextCtxID = 1
	v.rootID = v.newContextID()
	fr := &frame{ctxID: v.rootID}
	if v.fns.onContextCreate != nil {
		if _, err := v.call(fr, v.fns.onContextCreate, uint64(v.rootID), 0); err != nil {
			return fmt.Errorf("proxy_on_context_create(root): %w", err)
		}
	}
	if v.fns.onVMStart != nil {
		ok, err := v.call(fr, v.fns.onVMStart, uint64(v.rootID), uint64(len(v.p.cfg.VMConfiguration)))
		if err != nil {
			return fmt.Errorf("proxy_on_vm_start: %w", err)
		}
		if uint32(ok) == 0 {
			return fmt.Errorf("proxy_on_vm_start returned false")
		}
	}
	if v.fns.onConfigure != nil {
		cfg := append([]byte(nil), v.p.cfg.Configuration...)
		fr.pluginConfig = &cfg
		ok, err := v.call(fr, v.fns.onConfigure, uint64(v.rootID), uint64(len(cfg)))
		fr.pluginConfig = nil
		if err != nil {
			return fmt.Errorf("proxy_on_configure: %w", err)
		}
		if uint32(ok) == 0 {
			return fmt.Errorf("proxy_on_configure returned false")
		}
	}
	return nil
}

// moduleStart runs _initialize and then main or __main_void (a WASI
// reactor), or else _start (a command). They may call only what
// proxy-wasm-cpp-host's WasmBase::startVm allows (src/wasm.cc).
func (v *vm) moduleStart() error {
	v.restriction = v.p.r.startRestriction
	defer func() { v.restriction = nil }()
	fr := &frame{}
	if init := v.mod.ExportedFunction("_initialize"); init != nil {
		if _, err := v.call(fr, init); err != nil {
			return fmt.Errorf("_initialize: %w", err)
		}
		if fn := v.mod.ExportedFunction("main"); fn != nil {
			if _, err := v.call(fr, fn, 0, 0); err != nil {
				return fmt.Errorf("main: %w", err)
			}
		} else if fn := v.mod.ExportedFunction("__main_void"); fn != nil {
			if _, err := v.call(fr, fn); err != nil {
				return fmt.Errorf("__main_void: %w", err)
			}
		}
	} else if fn := v.mod.ExportedFunction("_start"); fn != nil {
		if _, err := v.call(fr, fn); err != nil {
			return fmt.Errorf("_start: %w", err)
		}
	}
	return nil
}

// newContextID allocates a context id; ids are per VM as in proxy-wasm-cpp-host.
func (v *vm) newContextID() uint32 {
	id := v.nextCtxID
	v.nextCtxID++
	return id
}

func lifecycleFuncs() []hostFunc {
	return []hostFunc{
		{name: "proxy_done", params: i32s(0), fn: proxyDone},
		{name: "proxy_set_effective_context", params: i32s(1), fn: proxySetEffectiveContext},
	}
}

// proxyDone completes a context whose proxy_on_done returned false.
func proxyDone(_ context.Context, v *vm, _ api.Module, _ []uint64) status {
	s := v.frame.stream
	if s == nil || !s.pendingDone {
		return statusNotFound
	}
	s.pendingDone = false
	v.exec.post(func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.deleteStream(s)
	})
	return statusOK
}

func proxySetEffectiveContext(_ context.Context, v *vm, _ api.Module, p []uint64) status {
	id := uint32(p[0])
	fr := v.frame
	if id == v.rootID {
		fr.stream = nil
		return statusOK
	}
	s, ok := v.streams[id]
	if !ok || s.deleted {
		return statusBadArgument
	}
	fr.stream = s
	return statusOK
}

// deleteStream calls proxy_on_delete and forgets the stream. v.mu must be held.
func (v *vm) deleteStream(s *stream) {
	if s.deleted {
		return
	}
	if v.fns.onDelete != nil {
		fr := v.newFrame(s.id)
		fr.stream = s
		_, _ = v.call(fr, v.fns.onDelete, uint64(s.id))
	}
	s.deleted = true
	delete(v.streams, s.id)
}
