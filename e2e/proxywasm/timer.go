package proxywasm

import (
	"context"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// tickTimer calls proxy_on_tick on a VM's root context. Like Envoy's
// Wasm::tickHandler (source/extensions/common/wasm/wasm.cc) it re-arms the
// timer for a full period once proxy_on_tick returns, so ticks never pile
// up and a slow tick is followed by a period of idle time. Envoy runs the
// tick on the worker's event loop, holding up that worker's I/O; here it
// runs on the VM's executor and only holds the VM lock (not modelled).
type tickTimer struct {
	v      *vm
	period time.Duration

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func startTickTimer(v *vm, period time.Duration) *tickTimer {
	t := &tickTimer{v: v, period: period}
	t.arm()
	return t
}

// arm schedules the next tick one period from now, unless stopped.
func (t *tickTimer) arm() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.timer = time.AfterFunc(t.period, t.fire)
	}
}

func (t *tickTimer) fire() {
	v := t.v
	v.runAsync(func(fr *frame) {
		if v.fns.onTick != nil {
			_, _ = v.call(fr, v.fns.onTick, uint64(v.rootID))
		}
		t.arm()
	})
}

func (t *tickTimer) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	if t.timer != nil {
		t.timer.Stop()
	}
}

func timerFuncs() []hostFunc {
	return []hostFunc{
		{name: "proxy_set_tick_period_milliseconds", params: i32s(1), fn: proxySetTickPeriod},
	}
}

// proxySetTickPeriod (re)starts the root context's timer; 0 disables it.
func proxySetTickPeriod(_ context.Context, v *vm, _ api.Module, p []uint64) status {
	period := time.Duration(uint32(p[0])) * time.Millisecond
	if v.timer != nil {
		v.timer.stop()
		v.timer = nil
	}
	if period > 0 {
		v.timer = startTickTimer(v, period)
	}
	return statusOK
}
