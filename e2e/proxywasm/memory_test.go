package proxywasm

import (
	"context"
	"testing"
)

// vmStartChecking builds a plugin whose proxy_on_vm_start calls
// proxy_get_buffer_bytes(VM_CONFIGURATION, 0, 100, retPtr, 4) and traps
// unless the status is want. alloc is the allocator's body; it may call the
// extra imports, which follow proxy_get_buffer_bytes (function 0).
func vmStartChecking(alloc, retPtr []byte, want byte, extra ...wasmImport) []byte {
	body := []byte{0x41, 0x06, 0x41, 0x00, 0x41, 0xe4, 0x00}
	body = append(body, retPtr...)
	body = append(body, 0x41, 0x04, 0x10, 0x00, 0x41, want, 0x47, 0x04, 0x40, 0x00, 0x0b, 0x41, 0x01)
	return buildWasm(
		append([]wasmImport{{module: "env", name: "proxy_get_buffer_bytes", params: []byte{wI32, wI32, wI32, wI32, wI32}, results: []byte{wI32}}}, extra...),
		[]wasmFunc{
			{name: abiVersion021},
			{name: "proxy_on_memory_allocate", params: []byte{wI32}, results: []byte{wI32}, body: alloc},
			{name: "proxy_on_vm_start", params: []byte{wI32, wI32}, results: []byte{wI32}, body: body},
		}, true)
}

func TestCopyOutToTheGuest(t *testing.T) {
	alloc1024 := []byte{0x41, 0x80, 0x08}
	for _, tc := range []struct {
		name     string
		alloc    []byte
		retPtr   []byte
		vmConfig string
		want     byte
	}{
		{"value copied", alloc1024, []byte{0x41, 0x00}, "abc", 0},
		{"empty value needs no allocation", []byte{0x41, 0x00}, []byte{0x41, 0x00}, "", 0},
		{"allocator returns 0", []byte{0x41, 0x00}, []byte{0x41, 0x00}, "abc", 6},
		{"return pointer out of memory", alloc1024, []byte{0x41, 0x80, 0x7e}, "abc", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, RuntimeOptions{Workers: 1})
			_, err := h.rt.Load(context.Background(), PluginConfig{Name: "mem",
				Code: vmStartChecking(tc.alloc, tc.retPtr, tc.want), VMConfiguration: []byte(tc.vmConfig)})
			if err != nil {
				t.Fatalf("status was not %d: %v", tc.want, err)
			}
		})
	}
}
