package proxywasm

import (
	"context"

	"github.com/tetratelabs/wazero/api"
)

// buffer resolves a buffer type for the current callback. It returns the
// bytes, whether the guest may change them, and NOT_FOUND or BAD_ARGUMENT
// as Envoy's getBuffer does.
func (v *vm) buffer(t bufferType) (*[]byte, bool, status) {
	fr := v.frame
	var b *[]byte
	mutable := true
	switch t {
	case bufferHTTPRequestBody, bufferHTTPResponseBody:
		if s := fr.stream; s != nil && s.bodies[t] != nil {
			b = &s.bodies[t].Data
		}
	case bufferDownstreamData, bufferUpstreamData:
		// An HTTP filter has no network buffers.
	case bufferHTTPCallResponseBody:
		b = fr.callBody
	case bufferGrpcCallMessage:
		b = fr.grpcMessage
	case bufferVMConfiguration:
		b, mutable = &v.p.cfg.VMConfiguration, false
	case bufferPluginConfiguration:
		b, mutable = fr.pluginConfig, false
	case bufferForeignFunctionArgs:
		b, mutable = fr.foreignArgs, false
	default:
		return nil, false, statusBadArgument
	}
	if b == nil {
		return nil, false, statusNotFound
	}
	return b, mutable, statusOK
}

func bufferFuncs() []hostFunc {
	return []hostFunc{
		{name: "proxy_get_buffer_bytes", params: i32s(5), fn: proxyGetBufferBytes},
		{name: "proxy_set_buffer_bytes", params: i32s(5), fn: proxySetBufferBytes},
		{name: "proxy_get_buffer_status", params: i32s(3), fn: proxyGetBufferStatus},
	}
}

// proxyGetBufferBytes returns up to max bytes from start; a start past the
// end gives an empty result, a range past the end is clipped.
func proxyGetBufferBytes(ctx context.Context, v *vm, mod api.Module, p []uint64) status {
	b, _, st := v.buffer(bufferType(p[0]))
	if st != statusOK {
		return st
	}
	start, max := uint64(uint32(p[1])), uint64(uint32(p[2]))
	size := uint64(len(*b))
	var out []byte
	if start < size {
		end := min(start+max, size)
		out = (*b)[start:end]
	}
	// copyOut copies before the guest can run again, so no alias survives.
	return v.copyOut(ctx, mod, out, uint32(p[3]), uint32(p[4]))
}

// proxySetBufferBytes follows Envoy for body buffers: start 0 drains size
// bytes and prepends the data (so (0, len) replaces everything), a start at
// or past the end appends, anything else is BAD_ARGUMENT.
func proxySetBufferBytes(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	b, mutable, st := v.buffer(bufferType(p[0]))
	if st != statusOK {
		return st
	}
	if !mutable {
		return statusBadArgument
	}
	start, size := uint64(uint32(p[1])), uint64(uint32(p[2]))
	data, ok := readBytes(mod, uint32(p[3]), uint32(p[4]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	cur := *b
	switch {
	case start == 0:
		drained := cur[min(size, uint64(len(cur))):]
		*b = append(data, drained...)
	case start >= uint64(len(cur)):
		*b = append(cur, data...)
	default:
		return statusBadArgument
	}
	return statusOK
}

// proxyGetBufferStatus returns the size and flags (always 0, as CPPHOST).
func proxyGetBufferStatus(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	b, _, st := v.buffer(bufferType(p[0]))
	if st != statusOK {
		return st
	}
	if !writeU32(mod, uint32(p[1]), uint32(len(*b))) || !writeU32(mod, uint32(p[2]), 0) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}
