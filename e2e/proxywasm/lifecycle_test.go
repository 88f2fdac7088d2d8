package proxywasm

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

func TestStartupSequence(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 2})
	h.load(t, PluginConfig{
		Name: "conf-plugin", RootID: "root-a", VMID: "vm-a",
		VMConfiguration: []byte("vmcfg"), Configuration: []byte("plugincfg"),
		Env: map[string]string{"CONF_ENV": "from-env"},
	})
	for _, k := range []string{"vm_start.config", "configure.config", "create"} {
		if got := h.rep.all(k); len(got) != 2 {
			t.Errorf("report %s ran %d times (%q), want once per VM", k, len(got), got)
		}
	}
	h.rep.expect(t, map[string]string{
		"create":                        "1/0",
		"vm_start.config":               "0:vmcfg",
		"vm_start.plugin_config_status": "1", // NOT_FOUND outside on_configure
		"vm_start.env":                  "from-env",
		"vm_start.log_level":            "0:0", // the test logger enables trace
		"vm_start.time":                 "0:true",
		"vm_start.plugin_name":          "0:conf-plugin",
		"vm_start.request_path_status":  "1",
		"configure.config":              "0:plugincfg",
		"configure.set_immutable":       "2",
	})
	var fd1, fd2 bool
	h.rep.mu.Lock()
	for _, rec := range h.rep.records {
		attrs := map[string]string{}
		rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		if attrs["plugin"] != "conf-plugin" || attrs["vm_id"] != "vm-a" {
			t.Errorf("record %q lacks plugin/vm_id attrs: %v", rec.Message, attrs)
		}
		switch rec.Message {
		case "hello from fd 1":
			fd1 = rec.Level == slog.LevelInfo && attrs["fd"] == "1"
		case "hello from fd 2":
			fd2 = rec.Level == slog.LevelError && attrs["fd"] == "2"
		}
	}
	h.rep.mu.Unlock()
	if !fd1 || !fd2 {
		t.Errorf("fd_write not logged as info (fd 1) %v and error (fd 2) %v", fd1, fd2)
	}
}

func TestStartupFailuresFailLoad(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       PluginConfig
		wantError string
	}{
		{"vm_start false", PluginConfig{VMConfiguration: []byte("fail")}, "proxy_on_vm_start returned false"},
		{"vm_start trap", PluginConfig{VMConfiguration: []byte("trap")}, "proxy_on_vm_start"},
		{"configure false", PluginConfig{Configuration: []byte("fail")}, "proxy_on_configure returned false"},
		{"configure trap", PluginConfig{Configuration: []byte("trap")}, "proxy_on_configure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, RuntimeOptions{Workers: 1})
			tc.cfg.Code = conformanceWasm
			_, err := h.rt.Load(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Fatalf("Load error = %v, want one containing %q", err, tc.wantError)
			}
		})
	}
}

func TestLoadRejectsModules(t *testing.T) {
	marker := minimalFuncs(abiVersion021)
	for _, tc := range []struct {
		name      string
		code      []byte
		wantError string
	}{
		{"unknown env import",
			buildWasm([]wasmImport{{module: "env", name: "proxy_bogus"}}, marker, true),
			"unknown host function env.proxy_bogus"},
		{"unknown module",
			buildWasm([]wasmImport{{module: "other", name: "f"}}, marker, true),
			`other.f from unknown module "other"`},
		{"unknown wasi function",
			buildWasm([]wasmImport{{module: "wasi_snapshot_preview1", name: "no_such"}}, marker, true),
			"Failed to load Wasm module due to a missing import: wasi_snapshot_preview1.no_such"},
		{"wrong signature",
			buildWasm([]wasmImport{{module: "env", name: "proxy_log"}}, marker, true),
			"import env.proxy_log has signature ()->(), the host provides (i32,i32,i32)->(i32)"},
		{"0.2.1-only function in a 0.2.0 module",
			buildWasm([]wasmImport{{module: "env", name: "proxy_get_log_level", params: []byte{wI32}, results: []byte{wI32}}},
				minimalFuncs(abiVersion020), true),
			"proxy_get_log_level is not available to a module exporting proxy_abi_version_0_2_0"},
		{"no ABI marker", buildWasm(nil, marker[1:], true), "no ABI version marker"},
		{"ABI 0.1.0", buildWasm(nil, minimalFuncs(abiVersion010), true), "ABI 0.2.x only"},
		{"no memory", buildWasm(nil, marker, false), `export its linear memory as "memory"`},
		{"no allocator", buildWasm(nil, marker[:1], true), "missing malloc or proxy_on_memory_allocate"},
		{"bad callback signature",
			buildWasm(nil, append(marker[:2:2], wasmFunc{name: "proxy_on_request_headers", params: []byte{wI32, wI32}, results: []byte{wI32}, body: []byte{0x41, 0x00}}), true),
			"export proxy_on_request_headers has signature (i32,i32)->(i32), want 3 i32 params and 1 i32 results"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, RuntimeOptions{Workers: 1})
			_, err := h.rt.Load(context.Background(), PluginConfig{Name: "bad", Code: tc.code})
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Fatalf("Load error = %v, want one containing %q", err, tc.wantError)
			}
		})
	}
}

// A module with no callbacks at all is valid: every callback is optional.
func TestCallbacksAreOptional(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{Code: buildWasm(nil, minimalFuncs(abiVersion020), true)})
	cb := newCallbacks()
	f := p.NewFilter(cb)
	req := requestHeaders("none")
	if st := f.DecodeHeaders(req, false); st != httpfilter.Continue {
		t.Errorf("DecodeHeaders = %v, want Continue", st)
	}
	if st := f.DecodeData(&httpfilter.Buffer{Data: []byte("x")}, true); st != httpfilter.Continue {
		t.Errorf("DecodeData = %v, want Continue", st)
	}
	f.Log()
	f.Destroy()
}

func TestContextsAndDoneLater(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})

	// A stream whose proxy_on_done returns false is deleted only after
	// proxy_done, called here from another stream's context.
	cb := newCallbacks()
	f := p.NewFilter(cb)
	f.DecodeHeaders(requestHeaders("done-later"), true)
	f.Log()
	f.Destroy()
	h.rep.expect(t, map[string]string{"create": "2/1", "log.done-later": "2", "done.pending": "2"})
	if got := h.rep.all("deleted.done-later"); len(got) != 0 {
		t.Fatalf("stream deleted before proxy_done: %q", got)
	}

	f2 := p.NewFilter(newCallbacks())
	f2.DecodeHeaders(requestHeaders("finish-done"), true)
	h.rep.expect(t, map[string]string{
		"done.not_pending": "1", // NOT_FOUND: the active context is not pending
		"done.bad_context": "2", // BAD_ARGUMENT: unknown context
		"done.switch":      "0",
		"done.done":        "0",
	})
	if got := h.rep.wait(t, "deleted.done-later", 1); got[0] != "2" {
		t.Errorf("deleted = %q, want context 2", got)
	}
	f2.Destroy()
	if got := h.rep.wait(t, "deleted.finish-done", 1); got[0] != "3" {
		t.Errorf("deleted = %q, want context 3", got)
	}
}
