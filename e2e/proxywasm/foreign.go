package proxywasm

import (
	"bytes"
	"compress/zlib"
	"context"
	"io"

	"github.com/tetratelabs/wazero/api"
)

func foreignFuncs() []hostFunc {
	return []hostFunc{
		{name: "proxy_call_foreign_function", params: i32s(6), fn: proxyCallForeignFunction},
	}
}

// foreignFunction is one of Envoy's registered foreign functions.
type foreignFunction func(v *vm, args []byte) ([]byte, status)

// foreignFunctionByName returns the foreign functions this host implements:
// Envoy's compress/uncompress (zlib) and clear_route_cache (nothing to clear
// here). Other names are NOT_FOUND.
func foreignFunctionByName(name string) (foreignFunction, bool) {
	switch name {
	case "compress":
		return func(_ *vm, args []byte) ([]byte, status) {
			var b bytes.Buffer
			w := zlib.NewWriter(&b)
			if _, err := w.Write(args); err != nil {
				return nil, statusSerializationFailure
			}
			if err := w.Close(); err != nil {
				return nil, statusSerializationFailure
			}
			return b.Bytes(), statusOK
		}, true
	case "uncompress":
		return func(_ *vm, args []byte) ([]byte, status) {
			r, err := zlib.NewReader(bytes.NewReader(args))
			if err != nil {
				return nil, statusSerializationFailure
			}
			out, err := io.ReadAll(io.LimitReader(r, maxCallResponseBytes))
			if err != nil {
				return nil, statusSerializationFailure
			}
			return out, statusOK
		}, true
	case "clear_route_cache":
		return func(*vm, []byte) ([]byte, status) { return nil, statusOK }, true
	}
	return nil, false
}

func proxyCallForeignFunction(ctx context.Context, v *vm, mod api.Module, p []uint64) status {
	name, ok1 := readString(mod, uint32(p[0]), uint32(p[1]))
	args, ok2 := readBytes(mod, uint32(p[2]), uint32(p[3]))
	if !ok1 || !ok2 {
		return statusInvalidMemoryAccess
	}
	fn, found := foreignFunctionByName(name)
	if !found {
		return statusNotFound
	}
	out, st := fn(v, args)
	if st != statusOK {
		return st
	}
	return v.copyOut(ctx, mod, out, uint32(p[4]), uint32(p[5]))
}
