package proxywasm

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func TestLogWriterSplitsLines(t *testing.T) {
	rep := newReports()
	w := &logWriter{logger: rep.logger(), level: slog.LevelInfo, fd: 1}
	for _, s := range []string{"one\ntw", "o\n", "three", "\n", strings.Repeat("x", 70<<10)} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	var got []string
	for _, r := range rep.records {
		got = append(got, r.Message)
	}
	// Lines are logged whole; an overlong partial line is flushed as is.
	if len(got) != 4 || !slices.Equal(got[:3], []string{"one", "two", "three"}) || len(got[3]) != 70<<10 {
		t.Errorf("logged %d records, first %q", len(got), got[:min(3, len(got))])
	}
}

// proxy-wasm-cpp-host registers the WASI functions under wasi_unstable too.
func TestWasiUnstableAlias(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	code := buildWasm([]wasmImport{{module: "wasi_unstable", name: "fd_write",
		params: []byte{wI32, wI32, wI32, wI32}, results: []byte{wI32}}}, minimalFuncs(abiVersion021), true)
	h.load(t, PluginConfig{Name: "unstable", Code: code})
}
