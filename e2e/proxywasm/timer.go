package proxywasm

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// tickTimer calls proxy_on_tick on a VM's root context every period. Ticks
// do not pile up: while one is queued or running, further ticks are skipped.
type tickTimer struct {
	stopOnce sync.Once
	done     chan struct{}
	queued   atomic.Bool
}

func startTickTimer(v *vm, period time.Duration) *tickTimer {
	t := &tickTimer{done: make(chan struct{})}
	go func() {
		tk := time.NewTicker(period)
		defer tk.Stop()
		for {
			select {
			case <-t.done:
				return
			case <-tk.C:
				if t.queued.Swap(true) {
					continue
				}
				v.runAsync(func(fr *frame) {
					t.queued.Store(false)
					if v.fns.onTick != nil {
						_, _ = v.call(fr, v.fns.onTick, uint64(v.rootID))
					}
				})
			}
		}
	}()
	return t
}

func (t *tickTimer) stop() {
	t.stopOnce.Do(func() { close(t.done) })
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
