package proxywasm

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sync"

	"github.com/tetratelabs/wazero"
)

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
