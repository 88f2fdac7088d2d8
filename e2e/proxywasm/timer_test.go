package proxywasm

import (
	"context"
	"sync"
	"testing"
	"time"
)

// The timer is re-armed when proxy_on_tick returns, as Envoy's
// Wasm::tickHandler does: a tick that takes longer than the period is
// followed by a full period of idle time, not by the next tick at once.
func TestTickIsRearmedAfterOnTickReturns(t *testing.T) {
	const period, busy = 20 * time.Millisecond, 30 * time.Millisecond
	code := buildWasm(
		[]wasmImport{
			{module: "env", name: "proxy_set_tick_period_milliseconds", params: []byte{wI32}, results: []byte{wI32}},
			{module: "env", name: "proxy_log", params: []byte{wI32, wI32, wI32}, results: []byte{wI32}},
		},
		append(minimalFuncs(abiVersion021),
			wasmFunc{name: "proxy_on_vm_start", params: []byte{wI32, wI32}, results: []byte{wI32},
				body: []byte{0x41, byte(period / time.Millisecond), 0x10, 0x00, 0x1a, 0x41, 0x01}},
			wasmFunc{name: "proxy_on_tick", params: []byte{wI32},
				body: []byte{0x41, 0x02, 0x41, 0x00, 0x41, 0x00, 0x10, 0x01, 0x1a}}),
		true)
	var mu sync.Mutex
	var starts []time.Time
	done := make(chan struct{})
	h := newHarness(t, RuntimeOptions{Workers: 1, HostCallObserver: func(guest, host string) {
		if guest != "proxy_on_tick" {
			return
		}
		mu.Lock()
		starts = append(starts, time.Now())
		if len(starts) == 4 {
			close(done)
		}
		mu.Unlock()
		// Each tick runs for busy, longer than the period.
		time.Sleep(busy)
	}})
	p := h.load(t, PluginConfig{Name: "ticker", Code: code})
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("fewer than 4 ticks")
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < 4; i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < busy+period {
			t.Errorf("tick %d started %v after tick %d, want at least %v (the tick, then a period)", i+1, gap, i, busy+period)
		}
	}
}
