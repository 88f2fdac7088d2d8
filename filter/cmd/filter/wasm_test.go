package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// abiV021 lists the host functions of Proxy-Wasm ABI v0.2.1
// (../shared/reference/proxy-wasm-abi.md §3), the only env imports allowed.
var abiV021 = strings.Fields(`
proxy_log proxy_get_log_level proxy_get_current_time_nanoseconds proxy_set_tick_period_milliseconds
proxy_done proxy_set_effective_context proxy_continue_stream proxy_close_stream proxy_send_local_response
proxy_get_buffer_bytes proxy_set_buffer_bytes proxy_get_buffer_status
proxy_get_header_map_size proxy_get_header_map_pairs proxy_set_header_map_pairs proxy_get_header_map_value
proxy_add_header_map_value proxy_replace_header_map_value proxy_remove_header_map_value
proxy_get_status proxy_http_call proxy_grpc_call proxy_grpc_stream proxy_grpc_send proxy_grpc_cancel proxy_grpc_close
proxy_set_shared_data proxy_get_shared_data proxy_register_shared_queue proxy_resolve_shared_queue
proxy_enqueue_shared_queue proxy_dequeue_shared_queue
proxy_define_metric proxy_record_metric proxy_increment_metric proxy_get_metric
proxy_get_property proxy_set_property proxy_call_foreign_function`)

// TestFilterWasm builds filter.wasm the way `make build` does and checks
// what Envoy will see: its imports, its exports and its size.
func TestFilterWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the module")
	}
	out := filepath.Join(t.TempDir(), "filter.wasm")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-buildmode=c-shared", "-trimpath", "-o", out, ".")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	code, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 4 << 20
	t.Logf("filter.wasm: %d bytes (%.2f MiB)", len(code), float64(len(code))/(1<<20))
	if len(code) > limit {
		t.Errorf("filter.wasm is %d bytes, over the 4 MiB budget", len(code))
	}

	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	m, err := r.CompileModule(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	for _, n := range abiV021 {
		allowed[n] = true
	}
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch {
		case mod == "wasi_snapshot_preview1":
		case mod == "env" && allowed[name]:
		default:
			t.Errorf("import %s.%s is neither Proxy-Wasm ABI v0.2.1 nor WASI", mod, name)
		}
	}
	exports := m.ExportedFunctions()
	for _, name := range []string{
		"_initialize", "proxy_abi_version_0_2_1", "proxy_on_memory_allocate", "proxy_on_context_create",
		"proxy_on_vm_start", "proxy_on_configure", "proxy_on_tick", "proxy_on_request_headers", "proxy_on_request_body",
		"proxy_on_response_headers", "proxy_on_response_body", "proxy_on_done", "proxy_on_delete",
		"proxy_on_grpc_receive", "proxy_on_grpc_close",
	} {
		if _, ok := exports[name]; !ok {
			t.Errorf("export %s missing", name)
		}
	}
	if _, ok := m.ExportedMemories()["memory"]; !ok {
		t.Error("memory is not exported")
	}
}
