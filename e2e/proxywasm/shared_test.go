package proxywasm

import (
	"testing"
)

func TestSharedDataAcrossVMsWithTheSameVMID(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 2})
	p := h.load(t, PluginConfig{VMID: "vm-s"})
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("shared-set"), true)
	h.rep.expect(t, map[string]string{
		"shared.set":          "0",
		"shared.get":          "0:v1:true",
		"shared.cas_mismatch": "8",
		"shared.cas_ok":       "0",
		"shared.after":        "v2:true",
		"shared.missing":      "1",
		"shared.empty":        "0:0:0",
	})
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("shared-get"), true) // second VM
	h.rep.expect(t, map[string]string{"shared.other_vm": "0:v2"})

	same := h.load(t, PluginConfig{Name: "same", VMID: "vm-s"})
	same.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("shared-get"), true)
	h.rep.expect(t, map[string]string{"shared.other_vm": "0:v2"})

	other := h.load(t, PluginConfig{Name: "other", VMID: "vm-other"})
	other.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("shared-get"), true)
	h.rep.expect(t, map[string]string{"shared.other_vm": "1:"})
}

func TestSharedQueue(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{VMID: "vm-q", Configuration: []byte("queue=confq")})
	h.rep.expect(t, map[string]string{"configure.queue": "0"})
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("queue"), true)
	h.rep.expect(t, map[string]string{
		"queue.resolve":          "0:true",
		"queue.resolve_missing":  "1",
		"queue.resolve_other_vm": "1",
		"queue.empty":            "7",
		"queue.enqueue":          "0",
		"queue.enqueue_unknown":  "1",
	})
	// Enqueueing calls proxy_on_queue_ready on the registering root context.
	if got := h.rep.wait(t, "queue.ready", 1); got[0] != "0:item-1:true:true" {
		t.Errorf("queue.ready = %q", got)
	}
}
