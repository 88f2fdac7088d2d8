package proxywasm

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
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

// The real filter.wasm loads in current Envoy and not in Envoy before
// envoyproxy/envoy#45756, whose proxy-wasm-cpp-host registers none of the
// WASI functions the Go runtime adds; Envoy names the first one missing.
func TestFilterWasmHostProfiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds filter.wasm")
	}
	code := buildShadowdiffFilter(t)
	for _, tc := range []struct {
		profile   HostProfile
		wantError string
	}{
		{EnvoyCurrent, ""},
		{EnvoyBefore45756, "Failed to load Wasm module due to a missing import: wasi_snapshot_preview1.sched_yield"},
	} {
		t.Run(tc.profile.String(), func(t *testing.T) {
			h := newHarness(t, RuntimeOptions{Workers: 1, Profile: tc.profile})
			p, err := h.rt.Load(context.Background(), PluginConfig{Name: "shadowdiff", Code: code,
				Configuration: []byte(primaryFilterConfig)})
			switch {
			case tc.wantError == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tc.wantError != "" && (err == nil || !strings.Contains(err.Error(), tc.wantError)):
				t.Fatalf("Load error = %v, want one containing %q", err, tc.wantError)
			}
			if p != nil {
				runStream(p, "none", "rid-1")
			}
		})
	}
}

var (
	wasiPollOneoff   = wasmImport{module: "wasi_snapshot_preview1", name: "poll_oneoff", params: []byte{wI32, wI32, wI32, wI32}, results: []byte{wI32}}
	wasiFdstatGet    = wasmImport{module: "wasi_snapshot_preview1", name: "fd_fdstat_get", params: []byte{wI32, wI32}, results: []byte{wI32}}
	wasiSchedYield   = wasmImport{module: "wasi_snapshot_preview1", name: "sched_yield", results: []byte{wI32}}
	wasiRandomGet    = wasmImport{module: "wasi_snapshot_preview1", name: "random_get", params: []byte{wI32, wI32}, results: []byte{wI32}}
	wasiClockTimeGet = wasmImport{module: "wasi_snapshot_preview1", name: "clock_time_get", params: []byte{wI32, wI64, wI32}, results: []byte{wI32}}
)

// trapUnless traps unless the i32 on the stack equals want.
func trapUnless(want byte) []byte { return []byte{0x41, want, 0x47, 0x04, 0x40, 0x00, 0x0b} }

// onVMStart builds a plugin whose proxy_on_vm_start runs body and returns true.
func onVMStart(imports []wasmImport, body []byte) []byte {
	return buildWasm(imports, append(minimalFuncs(abiVersion021),
		wasmFunc{name: "proxy_on_vm_start", params: []byte{wI32, wI32}, results: []byte{wI32}, body: append(body, 0x41, 0x01)}), true)
}

// The WASI functions a Go guest reaches behave as in proxy-wasm-cpp-host
// (src/exports.cc), not as full WASI.
func TestWasiBehavesAsProxyWasmCppHost(t *testing.T) {
	// A relative clock subscription of 10 s at 0 (timeout at offset 24),
	// events at 64, nevents at 128 (preset to 7).
	poll := append([]byte{0x41, 0x18, 0x42}, sleb(10e9)...)
	poll = append(poll, 0x37, 0x03, 0x00, 0x41, 0x80, 0x01, 0x41, 0x07, 0x36, 0x02, 0x00,
		0x41, 0x00, 0x41, 0xc0, 0x00, 0x41, 0x01, 0x41, 0x80, 0x01, 0x10, 0x00)
	poll = append(poll, trapUnless(0)...)
	poll = append(append(poll, 0x41, 0x80, 0x01, 0x28, 0x02, 0x00), trapUnless(0)...)
	for _, tc := range []struct {
		name string
		code []byte
	}{
		// poll_oneoff returns at once with no event (it does not sleep).
		{"poll_oneoff", onVMStart([]wasmImport{wasiPollOneoff}, poll)},
		// fd_fdstat_get answers for stdout and stderr only: EBADF for stdin.
		{"fd_fdstat_get", onVMStart([]wasmImport{wasiFdstatGet},
			append([]byte{0x41, 0x00, 0x41, 0x80, 0x02, 0x10, 0x00}, trapUnless(wasiErrnoBadf)...))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, RuntimeOptions{Workers: 1})
			start := time.Now()
			if _, err := h.rt.Load(context.Background(), PluginConfig{Name: tc.name, Code: tc.code}); err != nil {
				t.Fatalf("Load: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Load took %v", d)
			}
		})
	}
}

// A restricted callback may call only what proxy-wasm-cpp-host allows:
// WasmBase::startVm's list while _initialize runs, WasmBase::allocMemory's
// while the allocator runs; anything else traps.
func TestWasiRestrictedCallbacks(t *testing.T) {
	initCalling := func(im wasmImport, call []byte) []byte {
		return buildWasm([]wasmImport{im},
			append(minimalFuncs(abiVersion021), wasmFunc{name: "_initialize", body: append(call, 0x1a)}), true)
	}
	// The allocator calls import 1, drops its errno and answers 1024.
	allocCalling := func(im wasmImport, call []byte) []byte {
		return vmStartChecking(append(call, 0x1a, 0x41, 0x80, 0x08), []byte{0x41, 0x00}, 0, im)
	}
	schedYield := []byte{0x10, 0x00}
	fdstat := []byte{0x41, 0x01, 0x41, 0x80, 0x02, 0x10, 0x00}
	random := []byte{0x41, 0x80, 0x10, 0x41, 0x08, 0x10, 0x01}
	clock := []byte{0x41, 0x00, 0x42, 0x00, 0x41, 0x80, 0x10, 0x10, 0x01}
	for _, tc := range []struct {
		name      string
		profile   HostProfile
		code      []byte
		wantError string
	}{
		{"sched_yield in _initialize", EnvoyCurrent, initCalling(wasiSchedYield, schedYield),
			"restricted_callback: wasi_snapshot_preview1.sched_yield is not allowed during module start (_initialize)"},
		{"fd_fdstat_get in _initialize", EnvoyCurrent, initCalling(wasiFdstatGet, fdstat), ""},
		{"fd_fdstat_get in _initialize before #45756", EnvoyBefore45756, initCalling(wasiFdstatGet, fdstat),
			"restricted_callback: wasi_snapshot_preview1.fd_fdstat_get is not allowed during module start"},
		{"random_get in the allocator", EnvoyCurrent, allocCalling(wasiRandomGet, random),
			"restricted_callback: wasi_snapshot_preview1.random_get is not allowed during the guest allocator"},
		{"clock_time_get in the allocator", EnvoyBefore45756, allocCalling(wasiClockTimeGet, clock), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, RuntimeOptions{Workers: 1, Profile: tc.profile})
			_, err := h.rt.Load(context.Background(), PluginConfig{Name: "restricted", Code: tc.code, VMConfiguration: []byte("abc")})
			switch {
			case tc.wantError == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tc.wantError != "" && (err == nil || !strings.Contains(err.Error(), tc.wantError)):
				t.Fatalf("Load error = %v, want one containing %q", err, tc.wantError)
			}
		})
	}
}

func TestUnknownHostProfile(t *testing.T) {
	if _, err := NewRuntime(context.Background(), RuntimeOptions{Profile: HostProfile(99)}); err == nil {
		t.Error("unknown profile accepted")
	}
}
