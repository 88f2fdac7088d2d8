package proxywasm

import (
	"context"
	"log/slog"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// Proxy-Wasm log levels (proxy_log_level_t) mapped onto slog levels. slog
// has no trace or critical, so they sit 4 below debug and 4 above error.
var wasmLogLevels = [...]slog.Level{
	slog.LevelDebug - 4, // trace
	slog.LevelDebug,     // debug
	slog.LevelInfo,      // info
	slog.LevelWarn,      // warn
	slog.LevelError,     // error
	slog.LevelError + 4, // critical
}

func logFuncs() []hostFunc {
	return []hostFunc{
		{name: "proxy_log", params: i32s(3), fn: proxyLog},
		{name: "proxy_get_log_level", params: i32s(1), fn: proxyGetLogLevel, onlyABI: abiVersion021},
		{name: "proxy_get_current_time_nanoseconds", params: i32s(1), fn: proxyGetCurrentTimeNanoseconds},
	}
}

// proxyLog writes a guest message to the runtime's logger.
func proxyLog(ctx context.Context, v *vm, mod api.Module, p []uint64) status {
	level, ptr, size := uint32(p[0]), uint32(p[1]), uint32(p[2])
	if level >= uint32(len(wasmLogLevels)) {
		return statusBadArgument
	}
	msg, ok := readString(mod, ptr, size)
	if !ok {
		return statusInvalidMemoryAccess
	}
	lvl := wasmLogLevels[level]
	if v.logger.Enabled(ctx, lvl) {
		v.logger.LogAttrs(ctx, lvl, msg, slog.Uint64("context_id", uint64(v.frame.ctxID)))
	}
	return statusOK
}

// proxyGetLogLevel returns the lowest Proxy-Wasm level the logger emits.
func proxyGetLogLevel(ctx context.Context, v *vm, mod api.Module, p []uint64) status {
	level := uint32(len(wasmLogLevels) - 1)
	for i, l := range wasmLogLevels {
		if v.logger.Enabled(ctx, l) {
			level = uint32(i)
			break
		}
	}
	if !writeU32(mod, uint32(p[0]), level) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

func proxyGetCurrentTimeNanoseconds(_ context.Context, _ *vm, mod api.Module, p []uint64) status {
	if !writeU64(mod, uint32(p[0]), uint64(time.Now().UnixNano())) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}
