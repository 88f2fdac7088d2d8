package proxywasm

import (
	"context"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// filterStatePrefix is where Envoy keeps values written by proxy_set_property.
const filterStatePrefix = "wasm."

func propertyFuncs() []hostFunc {
	return []hostFunc{
		{name: "proxy_get_property", params: i32s(4), fn: proxyGetProperty},
		{name: "proxy_set_property", params: i32s(4), fn: proxySetProperty},
	}
}

// proxyGetProperty resolves a NUL-separated attribute path for the
// effective context and serializes the value as Envoy does.
func proxyGetProperty(ctx context.Context, v *vm, mod api.Module, p []uint64) status {
	path, ok := readString(mod, uint32(p[0]), uint32(p[1]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	val, st := v.property(path)
	if st != statusOK {
		return st
	}
	out, ok := serializeProperty(val)
	if !ok {
		return statusSerializationFailure
	}
	return v.copyOut(ctx, mod, out, uint32(p[2]), uint32(p[3]))
}

// proxySetProperty stores the value in the stream's filter state under
// "wasm.<path>"; the root context has no stream info (NOT_FOUND).
func proxySetProperty(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	path, ok1 := readString(mod, uint32(p[0]), uint32(p[1]))
	val, ok2 := readBytes(mod, uint32(p[2]), uint32(p[3]))
	if !ok1 || !ok2 {
		return statusInvalidMemoryAccess
	}
	info := v.streamInfo()
	if info == nil {
		return statusNotFound
	}
	if info.FilterState == nil {
		info.FilterState = map[string][]byte{}
	}
	if val == nil {
		val = []byte{}
	}
	info.FilterState[filterStatePrefix+path] = val
	return statusOK
}

// streamInfo returns the effective stream's info, nil in the root context.
func (v *vm) streamInfo() *httpfilter.StreamInfo {
	if s := v.frame.stream; s != nil {
		return s.cb.StreamInfo()
	}
	return nil
}

// property resolves a path: a top-level attribute or attribute group, then
// map keys, message fields or list indexes; unknown top-level names are
// looked up in the filter state written by proxy_set_property.
func (v *vm) property(path string) (any, status) {
	segs := strings.Split(path, "\x00")
	pc := &propContext{v: v, s: v.frame.stream}
	if pc.s != nil {
		pc.info = pc.s.cb.StreamInfo()
	}
	var val any
	var found bool
	rest := segs[1:]
	if group, ok := attributeGroup(segs[0]); ok {
		if len(rest) == 0 {
			return nil, statusSerializationFailure
		}
		val, found = group(pc, rest[0])
		rest = rest[1:]
	} else if a, f, ok := topLevelAttribute(pc, segs[0]); ok {
		val, found = a, f
	} else if pc.info != nil {
		if b, ok := pc.info.FilterState[filterStatePrefix+path]; ok {
			return b, statusOK
		}
		val, found = pc.info.FilterState[filterStatePrefix+segs[0]]
	}
	for _, seg := range rest {
		if !found {
			break
		}
		val, found = walkProperty(val, seg)
	}
	if !found {
		return nil, statusNotFound
	}
	return val, statusOK
}
