package proxywasm

import (
	"context"
	"encoding/binary"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// serializePairs encodes header fields in the Proxy-Wasm map format: u32
// count, count × (u32 key_len, u32 value_len), then each key and value
// followed by NUL. An empty map is encoded as nothing.
func serializePairs(fields []httpfilter.Header) []byte {
	if len(fields) == 0 {
		return nil
	}
	size := 4 + 8*len(fields)
	for _, f := range fields {
		size += len(f.Name) + len(f.Value) + 2
	}
	out := make([]byte, 4+8*len(fields), size)
	binary.LittleEndian.PutUint32(out, uint32(len(fields)))
	for i, f := range fields {
		binary.LittleEndian.PutUint32(out[4+8*i:], uint32(len(f.Name)))
		binary.LittleEndian.PutUint32(out[8+8*i:], uint32(len(f.Value)))
	}
	for _, f := range fields {
		out = append(out, f.Name...)
		out = append(out, 0)
		out = append(out, f.Value...)
		out = append(out, 0)
	}
	return out
}

// parsePairs decodes the Proxy-Wasm map format. Size 0 and a lone NUL byte
// are empty maps.
func parsePairs(b []byte) ([]httpfilter.Header, bool) {
	if len(b) == 0 || (len(b) < 4 && strings.Trim(string(b), "\x00") == "") {
		return nil, true
	}
	if len(b) < 4 {
		return nil, false
	}
	n := uint64(binary.LittleEndian.Uint32(b))
	if 4+8*n > uint64(len(b)) {
		return nil, false
	}
	fields := make([]httpfilter.Header, 0, n)
	data := b[4+8*n:]
	for i := range n {
		kl := uint64(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := uint64(binary.LittleEndian.Uint32(b[8+8*i:]))
		if kl+vl+2 > uint64(len(data)) || data[kl] != 0 || data[kl+1+vl] != 0 {
			return nil, false
		}
		fields = append(fields, httpfilter.Header{Name: string(data[:kl]), Value: string(data[kl+1 : kl+1+vl])})
		data = data[kl+vl+2:]
	}
	return fields, true
}

// headerMap resolves a map type for the effective context, with Envoy's
// availability rules: a stream map exists only in its own callback (or while
// the stream is stopped there); in proxy_on_log the maps are read-only and a
// missing one is NOT_FOUND instead of BAD_ARGUMENT.
func (v *vm) headerMap(t mapType, write bool) (*httpfilter.Headers, status) {
	fr := v.frame
	var h *httpfilter.Headers
	switch t {
	case mapRequestHeaders, mapRequestTrailers, mapResponseHeaders, mapResponseTrailers:
		s := fr.stream
		if s == nil {
			return nil, statusBadArgument
		}
		if s.logPhase {
			if write {
				return nil, statusBadArgument
			}
			switch t {
			case mapRequestHeaders:
				h = s.cb.RequestHeaders()
			case mapResponseHeaders:
				h = s.cb.ResponseHeaders()
			case mapResponseTrailers:
				h = s.cb.ResponseTrailers()
			}
			if h == nil {
				return nil, statusNotFound
			}
			return h, statusOK
		}
		h = s.maps[t]
	case mapGrpcInitialMetadata:
		h = fr.grpcInitial
	case mapGrpcTrailingMetadata:
		h = fr.grpcTrailing
	case mapHTTPCallResponseHeaders:
		h = fr.callHeaders
	case mapHTTPCallResponseTrailer:
		h = fr.callTrailers
	}
	if h == nil {
		return nil, statusBadArgument
	}
	return h, statusOK
}

func headerFuncs() []hostFunc {
	return []hostFunc{
		{name: "proxy_get_header_map_value", params: i32s(5), fn: proxyGetHeaderMapValue},
		{name: "proxy_get_header_map_pairs", params: i32s(3), fn: proxyGetHeaderMapPairs},
		{name: "proxy_set_header_map_pairs", params: i32s(3), fn: proxySetHeaderMapPairs},
		{name: "proxy_add_header_map_value", params: i32s(5), fn: proxyAddHeaderMapValue},
		{name: "proxy_replace_header_map_value", params: i32s(5), fn: proxyReplaceHeaderMapValue},
		{name: "proxy_remove_header_map_value", params: i32s(3), fn: proxyRemoveHeaderMapValue},
		{name: "proxy_get_header_map_size", params: i32s(2), fn: proxyGetHeaderMapSize},
	}
}

// proxyGetHeaderMapValue returns the FIRST value of a header, as Envoy does.
func proxyGetHeaderMapValue(ctx context.Context, v *vm, mod api.Module, p []uint64) status {
	h, st := v.headerMap(mapType(p[0]), false)
	if st != statusOK {
		return st
	}
	key, ok := readString(mod, uint32(p[1]), uint32(p[2]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	val, found := h.Get(key)
	if !found {
		return statusNotFound
	}
	return v.copyOut(ctx, mod, []byte(val), uint32(p[3]), uint32(p[4]))
}

func proxyGetHeaderMapPairs(ctx context.Context, v *vm, mod api.Module, p []uint64) status {
	h, st := v.headerMap(mapType(p[0]), false)
	if st != statusOK {
		return st
	}
	return v.copyOut(ctx, mod, serializePairs(h.Fields), uint32(p[1]), uint32(p[2]))
}

// proxySetHeaderMapPairs replaces the whole map; keys are lower-cased.
func proxySetHeaderMapPairs(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	h, st := v.headerMap(mapType(p[0]), true)
	if st != statusOK {
		return st
	}
	b, ok := readBytes(mod, uint32(p[1]), uint32(p[2]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	fields, ok := parsePairs(b)
	if !ok {
		return statusBadArgument
	}
	h.Fields = h.Fields[:0]
	for _, f := range fields {
		h.Add(f.Name, f.Value)
	}
	return statusOK
}

// setHeader runs set (Headers.Add or Headers.Set) with the map, key and
// value arguments of add_header_map_value / replace_header_map_value.
func setHeader(v *vm, mod api.Module, p []uint64, set func(h *httpfilter.Headers, key, value string)) status {
	h, st := v.headerMap(mapType(p[0]), true)
	if st != statusOK {
		return st
	}
	key, ok1 := readString(mod, uint32(p[1]), uint32(p[2]))
	val, ok2 := readString(mod, uint32(p[3]), uint32(p[4]))
	if !ok1 || !ok2 {
		return statusInvalidMemoryAccess
	}
	set(h, key, val)
	return statusOK
}

func proxyAddHeaderMapValue(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	return setHeader(v, mod, p, (*httpfilter.Headers).Add)
}

// proxyReplaceHeaderMapValue sets a header, adding it when absent.
func proxyReplaceHeaderMapValue(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	return setHeader(v, mod, p, (*httpfilter.Headers).Set)
}

// proxyRemoveHeaderMapValue removes every value of a header; OK when absent.
func proxyRemoveHeaderMapValue(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	h, st := v.headerMap(mapType(p[0]), true)
	if st != statusOK {
		return st
	}
	key, ok := readString(mod, uint32(p[1]), uint32(p[2]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	h.Del(key)
	return statusOK
}

// proxyGetHeaderMapSize returns Envoy's byteSize(): the sum of key and value lengths.
func proxyGetHeaderMapSize(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	h, st := v.headerMap(mapType(p[0]), false)
	if st != statusOK {
		return st
	}
	if !writeU32(mod, uint32(p[1]), uint32(headersByteSize(h))) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

func headersByteSize(h *httpfilter.Headers) int {
	n := 0
	for _, f := range h.Fields {
		n += len(f.Name) + len(f.Value)
	}
	return n
}
