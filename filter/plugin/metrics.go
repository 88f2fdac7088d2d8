package plugin

import "fmt"

// Drop and not-digested reasons; each has its own counter next to the total.
const (
	DropQueueFull    = "queue_full"
	DropStreamClosed = "stream_closed"
	DropAckTimeout   = "ack_timeout"
	DropRejected     = "rejected"
	DropTooLarge     = "too_large"
	DropShutdown     = "shutdown" // queued or unacknowledged when the plugin instance ended
	// DropDigestBacklog: responses waiting for their digest hit the bound.
	DropDigestBacklog = "digest_backlog"

	NotDigestedNoPairingKey = "no_pairing_key"
	NotDigestedRole         = "wrong_direction" // a shadow at a primary, or live traffic at a shadow
	NotDigestedSampledOut   = "sampled_out"
)

// metrics are the counters the plugin defines; Envoy shows them as
// wasmcustom.shadowdiff.*.
type metrics struct {
	host                                  Host
	sent, bytesSent, dropped              Counter
	shadowRequests, sideEffectsBlocked    Counter
	streamReconnects, configErrors, acked Counter
	requeued                              Counter
	byReason                              map[reasonKey]Counter
}

type reasonKey struct{ prefix, reason string }

func newMetrics(h Host) (*metrics, error) {
	m := &metrics{host: h, byReason: map[reasonKey]Counter{}}
	for _, c := range []struct {
		name string
		dst  *Counter
	}{
		{"shadowdiff.digests_sent", &m.sent},
		{"shadowdiff.digests_acknowledged", &m.acked},
		{"shadowdiff.bytes_sent", &m.bytesSent},
		{"shadowdiff.digests_dropped", &m.dropped},
		{"shadowdiff.shadow_requests", &m.shadowRequests},
		{"shadowdiff.side_effects_blocked", &m.sideEffectsBlocked},
		{"shadowdiff.stream_reconnects", &m.streamReconnects},
		{"shadowdiff.digests_requeued", &m.requeued},
		{"shadowdiff.config_errors", &m.configErrors},
	} {
		ctr, err := h.DefineCounter(c.name)
		if err != nil {
			return nil, fmt.Errorf("define metric %s: %w", c.name, err)
		}
		*c.dst = ctr
	}
	return m, nil
}

// reason returns the counter "<prefix>.<reason>", defined on first use.
func (m *metrics) reason(prefix, reason string) Counter {
	k := reasonKey{prefix, reason}
	if c, ok := m.byReason[k]; ok {
		return c
	}
	c, err := m.host.DefineCounter(prefix + "." + reason)
	if err != nil {
		c = discard{}
	}
	m.byReason[k] = c
	return c
}

func (m *metrics) drop(reason string, n int) {
	if n <= 0 {
		return
	}
	m.dropped.Add(uint64(n))
	m.reason("shadowdiff.digests_dropped", reason).Add(uint64(n))
}

func (m *metrics) notDigested(reason string) {
	m.reason("shadowdiff.not_digested", reason).Add(1)
}

type discard struct{}

func (discard) Add(uint64) {}
