// Package proxywasm is a Proxy-Wasm ABI v0.2.1 host built on wazero. It runs
// a plugin .wasm the way Envoy does and exposes each loaded plugin as an
// httpfilter.Factory for the harness's Envoy subset. The ABI reference it
// follows, Envoy's deviations included, is
// shared/reference/proxy-wasm-abi.md.
//
// # Model
//
// A Runtime owns one wazero runtime (with an optional on-disk compilation
// cache), the env (proxy_*) and WASI host modules, and the state Envoy keeps
// process-wide: shared data and shared queues (per vm_id), metrics (per
// name) and gRPC connections (per endpoint). Its HostProfile picks the
// Envoy version whose WASI surface it models: only the functions that
// version's proxy-wasm-cpp-host registers, behaving as there, and only its
// allowlists while _initialize or the guest allocator runs.
//
// A Plugin is one module loaded into Workers VMs, like Envoy's worker
// threads. Each VM runs the startup sequence on Load (_initialize, root
// context, proxy_on_vm_start, proxy_on_configure); Load fails when either
// returns false, when the module traps, or when it imports anything the host
// does not provide (the error names the import).
//
// NewFilter binds a stream to one VM, round robin, for its whole life. Each
// VM is single-threaded: a mutex serialises every guest call, stream
// callbacks, timer ticks and callout completions alike. Asynchronous work
// (proxy_on_tick, proxy_on_http_call_response, proxy_on_grpc_*,
// proxy_on_queue_ready) runs on the VM's own goroutine and is delivered on
// the root context.
//
// # Contract with the manager (httpfilter)
//
//   - Actions the guest asks for (proxy_send_local_response,
//     proxy_continue_stream, proxy_close_stream) are applied after the guest
//     call returns and the VM lock is released, so the manager may call back
//     into the filter synchronously. A continue of the direction whose
//     callback is running turns its status into Continue instead.
//   - Actions asked for from an asynchronous callback (after
//     proxy_set_effective_context) call Callbacks.SendLocalReply,
//     ContinueDecoding, ContinueEncoding or ResetStream from the VM's
//     goroutine, as Envoy posts them to the worker.
//   - Log must come before Destroy, as Envoy runs the access log before it
//     destroys the filter chain; a Log after Destroy is ignored.
//   - When the VM has failed (a trap), streams pass through under FailOpen;
//     otherwise each gets one local 503 with details wasm_fail_stream and
//     its later callbacks return Continue so that the reply can pass.
package proxywasm
