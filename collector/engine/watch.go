package engine

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// watcherBuffer is how many events a slow watcher may lag behind.
const watcherBuffer = 256

// watchHub fans regression events out to WatchRegressions streams.
type watchHub struct {
	mu      sync.Mutex
	subs    map[*watcher]struct{}
	dropped prometheus.Counter
	poked   chan struct{}
	done    chan struct{}
	closed  bool
}

type watcher struct {
	endpoint string
	ch       chan *shadowdiffv1.RegressionEvent
}

func newWatchHub(dropped prometheus.Counter) *watchHub {
	return &watchHub{subs: map[*watcher]struct{}{}, dropped: dropped, poked: make(chan struct{}, 1), done: make(chan struct{})}
}

func (h *watchHub) subscribe(endpoint string) *watcher {
	w := &watcher{endpoint: endpoint, ch: make(chan *shadowdiffv1.RegressionEvent, watcherBuffer)}
	h.mu.Lock()
	h.subs[w] = struct{}{}
	h.mu.Unlock()
	return w
}

func (h *watchHub) unsubscribe(w *watcher) {
	h.mu.Lock()
	delete(h.subs, w)
	h.mu.Unlock()
}

func (h *watchHub) publish(ev *shadowdiffv1.RegressionEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.subs {
		if w.endpoint != "" && w.endpoint != ev.Endpoint {
			continue
		}
		select {
		case w.ch <- ev:
		default:
			h.dropped.Inc()
		}
	}
}

// poke notes that results changed, for the next evaluation.
func (h *watchHub) poke() {
	select {
	case h.poked <- struct{}{}:
	default:
	}
}

func (h *watchHub) takePoke() bool {
	select {
	case <-h.poked:
		return true
	default:
		return false
	}
}

func (h *watchHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// significantNow computes, per endpoint, the fields that are significant
// regressions over all stored time, with rules applied. It takes the read
// lock for one endpoint at a time: the views of a thousand endpoints that
// changed take long enough to hold up ingest.
func (e *Engine) significantNow() map[string]map[string]*shadowdiffv1.FieldStats {
	var keys []string
	e.rlocked(func() {
		keys = make([]string, 0, len(e.aggs.eps))
		for key := range e.aggs.eps {
			keys = append(keys, key)
		}
	})
	out := map[string]map[string]*shadowdiffv1.FieldStats{}
	for _, key := range keys {
		var ov *overview
		e.rlocked(func() {
			// By name: the endpoint may have been cleared meanwhile, or
			// reloaded from the store after a failed write.
			if ea := e.aggs.eps[key]; ea != nil {
				ov = e.overviewLocked(ea, rangeAll)
			}
		})
		if ov == nil || len(ov.significant) == 0 {
			continue
		}
		fields := make(map[string]*shadowdiffv1.FieldStats, len(ov.significant))
		for _, fs := range ov.significant {
			fields[fs.Path] = fs
		}
		out[key] = fields
	}
	return out
}

// primeWatch records what is significant at start, so a restart does not
// announce old regressions again.
func (e *Engine) primeWatch() {
	e.watchState = e.significantNow()
}

// evaluateWatch announces fields that became significant since the last
// evaluation. Called by the background loop only.
func (e *Engine) evaluateWatch() {
	if !e.watch.takePoke() {
		return
	}
	now := e.significantNow()
	for ep, fields := range now {
		for path, fs := range fields {
			if e.watchState[ep][path] != nil {
				continue
			}
			e.met.regressions.WithLabelValues(e.met.endpoint(ep)).Inc()
			e.log.Info("regression detected", "endpoint", ep, "field", path, "p_value", fs.PValue)
			e.watch.publish(&shadowdiffv1.RegressionEvent{Time: timestamppb.New(e.opts.Now()), Endpoint: ep, Field: fs})
		}
	}
	e.watchState = now
}
