package proxywasm

import (
	"context"
	"slices"
	"sync"
	"testing"
)

func TestExecutorRunsTasksInOrder(t *testing.T) {
	e := newExecutor()
	var mu sync.Mutex
	var got []int
	done := make(chan struct{})
	for i := range 100 {
		e.post(func() {
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
			if i == 99 {
				close(done)
			}
		})
	}
	<-done
	e.stop()
	if e.post(func() {}) {
		t.Error("a stopped executor accepted a task")
	}
	want := make([]int, 100)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(got, want) {
		t.Errorf("tasks ran out of order: %v", got)
	}
}

// A task posted from inside a task (a guest call enqueueing for its own
// VM) must not deadlock.
func TestExecutorPostFromTask(t *testing.T) {
	e := newExecutor()
	defer e.stop()
	done := make(chan struct{})
	e.post(func() { e.post(func() { close(done) }) })
	<-done
}

func TestVMIdsFollowProxyWasmCppHost(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	v := p.vms[0]
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.rootID != 1 {
		t.Errorf("root context id = %d, want 1", v.rootID)
	}
	for typ, want := range map[uint32][]uint32{calloutHTTPCall: {4, 8}, calloutGrpcCall: {5, 9}, calloutGrpcStream: {6, 10}} {
		if got := []uint32{v.newCalloutID(typ), v.newCalloutID(typ)}; !slices.Equal(got, want) {
			t.Errorf("callout ids of type %d = %v, want %v", typ, got, want)
		}
	}
}

func TestRuntimeOptions(t *testing.T) {
	if _, err := NewRuntime(context.Background(), RuntimeOptions{Workers: -1}); err == nil {
		t.Error("negative Workers accepted")
	}
	rt, err := NewRuntime(context.Background(), RuntimeOptions{CompilationCacheDir: testCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	if len(rt.Metrics()) != 0 {
		t.Errorf("a new runtime has metrics: %v", rt.Metrics())
	}
	p, err := rt.Load(context.Background(), PluginConfig{Name: "defaults", Code: conformanceWasm})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.vms) != defaultWorkers {
		t.Errorf("Workers 0 made %d VMs, want %d", len(p.vms), defaultWorkers)
	}
}
