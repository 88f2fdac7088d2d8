package proxywasm

import (
	"context"
	"log/slog"
	"testing"
)

func TestProxyLogLevels(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{Name: "logger", VMID: "vm-l"})
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("log-levels"), true)
	want := map[string]slog.Level{
		"level-0": slog.LevelDebug - 4, "level-1": slog.LevelDebug, "level-2": slog.LevelInfo,
		"level-3": slog.LevelWarn, "level-4": slog.LevelError, "level-5": slog.LevelError + 4,
	}
	h.rep.mu.Lock()
	defer h.rep.mu.Unlock()
	for _, r := range h.rep.records {
		if lvl, ok := want[r.Message]; ok {
			if r.Level != lvl {
				t.Errorf("%s logged at %v, want %v", r.Message, r.Level, lvl)
			}
			delete(want, r.Message)
		}
	}
	if len(want) != 0 {
		t.Errorf("not logged: %v", want)
	}
}

// levelHandler only enables levels at or above min.
type levelHandler struct {
	slog.Handler
	min slog.Level
}

func (h levelHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }

func (h levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func TestGetLogLevelFollowsTheLogger(t *testing.T) {
	// A hand-built plugin whose proxy_on_vm_start traps unless
	// proxy_get_log_level reports warn (3).
	code := buildWasm(
		[]wasmImport{{module: "env", name: "proxy_get_log_level", params: []byte{wI32}, results: []byte{wI32}}},
		append(minimalFuncs(abiVersion021), wasmFunc{
			name: "proxy_on_vm_start", params: []byte{wI32, wI32}, results: []byte{wI32},
			body: []byte{
				0x41, 0x10, 0x10, 0x00, 0x1a, // proxy_get_log_level(16); drop
				0x41, 0x10, 0x28, 0x02, 0x00, // i32.load [16]
				0x41, 0x03, 0x47, 0x04, 0x40, 0x00, 0x0b, // if != 3 { unreachable }
				0x41, 0x01,
			},
		}), true)
	rep := newReports()
	rt, err := NewRuntime(context.Background(), RuntimeOptions{Workers: 1,
		Logger: slog.New(levelHandler{Handler: reportHandler{r: rep}, min: slog.LevelWarn})})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	if _, err := rt.Load(context.Background(), PluginConfig{Name: "lvl", Code: code}); err != nil {
		t.Fatalf("proxy_get_log_level did not report warn: %v", err)
	}
}
