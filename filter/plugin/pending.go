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
	// digestTimePerTick bounds one tick's work by time, the only measure of
	// what a digest costs (a 5 KB gzip body may decode to 4 MiB): a tick
	// digests responses until it has spent this long, at least one. A
	// request that arrives meanwhile waits at most this and one digest.
	digestTimePerTick = 2 * time.Millisecond
	// digestTickPeriod is the tick while responses wait; backlogTickPeriod
	// while a tick left some: cheap digests then go at up to two thirds
	// of the worker (2 ms of each 3) rather than being dropped, and
	// expensive ones still leave the worker a millisecond in three.
	digestTickPeriod  = 10 * time.Millisecond
	backlogTickPeriod = time.Millisecond
)

// digestQueue holds the streams whose responses wait for their digest,
// oldest first.
type digestQueue struct {
	streams []*Stream
	// period is the tick period the queue set: 0 while the sender's.
	period time.Duration
}

// setPeriod sets the root's tick period for the queue; 0, or a period no
// faster than the sender's, is the sender's.
func (r *Root) setPeriod(p time.Duration) {
	q := &r.digests
	if p >= r.tickPeriod {
		p = 0
	}
	if q.period == p {
		return
	}
	q.period = p
	if p == 0 {
		p = r.tickPeriod
	}
	_ = r.host.SetTickPeriod(p)
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
	if q.period == 0 {
		r.setPeriod(digestTickPeriod)
	}
}

// digestPending digests queued responses for at most digestTimePerTick
// (at least one) and recycles the streams the proxy has released.
func (r *Root) digestPending() {
	q := &r.digests
	start := r.now()
	n := 0
	for n < len(q.streams) {
		s := q.streams[n]
		if r.sender.full() {
			// Its digest would be dropped: spare the worker computing it
			// (a collector that is down fills the queue).
			r.sender.drop(DropQueueFull, 1)
		} else {
			s.finishDigest()
		}
		s.queued = false
		if s.released {
			s.recycle()
		}
		n++
		if r.now().Sub(start) >= digestTimePerTick {
			break
		}
	}
	rest := copy(q.streams, q.streams[n:])
	clear(q.streams[rest:])
	q.streams = q.streams[:rest]
	switch {
	case rest > 0:
		r.setPeriod(backlogTickPeriod)
	case n > 0:
		r.setPeriod(digestTickPeriod)
	default:
		// Back to the sender's tick after a tick with nothing to do, so
		// that steady traffic does not switch the period on every tick.
		r.setPeriod(0)
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
