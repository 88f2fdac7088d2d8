package plugin

import "time"

// Responses are digested off the stream's path. In Envoy, proxy_on_done
// runs when the stream is destroyed, in the event-loop iteration that
// handed the response's last bytes to the connection, whose socket write
// is only scheduled: a digest computed there (decompression, JSON parsing,
// hashing) would delay the response it digests. So Stream.OnDone only
// queues the stream, buffers and all, and the root digests the queue on
// its tick, a bounded amount per tick so that one tick does not hold the
// worker for long.
const (
	// maxPendingDigests bounds the responses waiting for their digest;
	// beyond it a response is dropped (digests_dropped.digest_backlog),
	// never waited for. Their bodies count in body.max_total_bytes until
	// digested, which bounds their bytes.
	maxPendingDigests = 1024
	// maxDigestsPerTick and digestBytesPerTick bound one tick's work; the
	// first response of a tick is digested whatever its size.
	maxDigestsPerTick  = 64
	digestBytesPerTick = 256 << 10
	// digestTickPeriod is the tick while responses wait.
	digestTickPeriod = 10 * time.Millisecond
)

// digestQueue holds the streams whose responses wait for their digest,
// oldest first.
type digestQueue struct {
	streams []*Stream
	// fast: the tick runs at digestTickPeriod.
	fast bool
}

// queueDigest takes a stream OnDone is done with; it drops the digest
// when the queue is full.
func (r *Root) queueDigest(s *Stream) {
	q := &r.digests
	switch {
	case r.sender.done:
		// The plugin instance has ended: no tick will come.
		r.sender.drop(DropShutdown, 1)
		return
	case len(q.streams) >= maxPendingDigests:
		r.sender.drop(DropDigestBacklog, 1)
		return
	}
	s.queued = true
	q.streams = append(q.streams, s)
	if !q.fast && r.tickPeriod > digestTickPeriod {
		q.fast = true
		_ = r.host.SetTickPeriod(digestTickPeriod)
	}
}

// digestPending digests queued responses within one tick's budget and
// recycles the streams the proxy has released.
func (r *Root) digestPending() {
	q := &r.digests
	budget, n := digestBytesPerTick, 0
	for n < len(q.streams) && n < maxDigestsPerTick && budget > 0 {
		s := q.streams[n]
		budget -= len(s.body)
		s.finishDigest()
		s.queued = false
		if s.released {
			s.recycle()
		}
		n++
	}
	rest := copy(q.streams, q.streams[n:])
	clear(q.streams[rest:])
	q.streams = q.streams[:rest]
	// Back to the sender's tick after a tick with nothing to do, so that
	// steady traffic does not switch the period on every tick.
	if n == 0 && q.fast {
		q.fast = false
		_ = r.host.SetTickPeriod(r.tickPeriod)
	}
}

// dropPendingDigests counts the responses still waiting for their digest
// as dropped (shutdown) when the plugin instance ends, and lets their
// streams go.
func (r *Root) dropPendingDigests() {
	q := &r.digests
	r.sender.drop(DropShutdown, len(q.streams))
	for _, s := range q.streams {
		s.queued = false
		if s.released {
			s.recycle()
		}
	}
	clear(q.streams)
	q.streams = q.streams[:0]
}
