//go:build wasip1

package abi

import "github.com/shadowdiff/shadowdiff/filter/plugin"

// The proxy's context ids map to plugin objects. These maps are the only
// global state: Wasm entry points have nowhere else to keep it.
var (
	roots   = map[uint32]*plugin.Root{}
	streams = map[uint32]*plugin.Stream{}
)

//go:wasmexport proxy_abi_version_0_2_1
func proxyABIVersion() {}

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(contextID, parentID uint32) {
	enter()
	defer leave()
	if parentID == 0 {
		roots[contextID] = plugin.NewRoot(host{}, nil)
		return
	}
	if r, ok := roots[parentID]; ok {
		streams[contextID] = r.NewStream()
	}
}

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(rootID, size uint32) uint32 { return 1 }

//go:wasmexport proxy_on_configure
func proxyOnConfigure(rootID, size uint32) uint32 {
	enter()
	defer leave()
	r, ok := roots[rootID]
	if !ok {
		return 0
	}
	var data []byte
	if size > 0 {
		var err error
		if data, err = getBuffer(bufferPluginConfig, int(size)); err != nil {
			host{}.Log(plugin.LogCritical, "shadowdiff: read plugin configuration: "+err.Error())
			return 0
		}
	}
	if err := r.OnConfigure(data); err != nil {
		return 0
	}
	return 1
}

func action(a plugin.Action) uint32 { return uint32(a) }

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	enter()
	defer leave()
	if s, ok := streams[contextID]; ok {
		return action(s.OnRequestHeaders(endOfStream != 0))
	}
	return 0
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(contextID, size, endOfStream uint32) uint32 {
	enter()
	defer leave()
	if s, ok := streams[contextID]; ok {
		return action(s.OnRequestBody(int(size), endOfStream != 0))
	}
	return 0
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	enter()
	defer leave()
	if s, ok := streams[contextID]; ok {
		return action(s.OnResponseHeaders(endOfStream != 0))
	}
	return 0
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(contextID, size, endOfStream uint32) uint32 {
	enter()
	defer leave()
	if s, ok := streams[contextID]; ok {
		return action(s.OnResponseBody(int(size), endOfStream != 0))
	}
	return 0
}

//go:wasmexport proxy_on_done
func proxyOnDone(contextID uint32) uint32 {
	enter()
	defer leave()
	if s, ok := streams[contextID]; ok {
		s.OnDone()
	} else if r, ok := roots[contextID]; ok {
		r.OnDone()
	}
	return 1
}

//go:wasmexport proxy_on_delete
func proxyOnDelete(contextID uint32) {
	enter()
	defer leave()
	if s, ok := streams[contextID]; ok {
		delete(streams, contextID)
		s.Release()
		return
	}
	delete(roots, contextID)
}

//go:wasmexport proxy_on_tick
func proxyOnTick(rootID uint32) {
	enter()
	defer leave()
	if r, ok := roots[rootID]; ok {
		r.OnTick()
	}
}

//go:wasmexport proxy_on_grpc_receive_initial_metadata
func proxyOnGrpcReceiveInitialMetadata(rootID, id, n uint32) {}

//go:wasmexport proxy_on_grpc_receive_trailing_metadata
func proxyOnGrpcReceiveTrailingMetadata(rootID, id, n uint32) {}

//go:wasmexport proxy_on_grpc_receive
func proxyOnGrpcReceive(rootID, id, size uint32) {
	enter()
	defer leave()
	r, ok := roots[rootID]
	if !ok {
		return
	}
	msg, err := getBuffer(bufferGrpcMessage, int(size))
	if err != nil {
		return
	}
	r.OnStreamMessage(id, msg)
}

//go:wasmexport proxy_on_grpc_close
func proxyOnGrpcClose(rootID, id, code uint32) {
	enter()
	defer leave()
	if r, ok := roots[rootID]; ok {
		r.OnStreamClose(id, int32(code), grpcStatusMessage())
	}
}
