package plugin

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/shadowdiff/shadowdiff/filter/config"
	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// maxInflight bounds batches sent but not yet acknowledged: with the queue
// bounds, it caps the memory a slow collector can make the plugin hold.
const maxInflight = 8

// grpcUnavailable is the status of a stream that found no collector: in
// Envoy a connection failure, no healthy upstream or an overflow (a local
// 503 reply), or the collector itself shutting down or failing to store.
// A reset after the collector answered is INTERNAL.
const grpcUnavailable = 14

// sender queues encoded digests, batches them onto one long-lived gRPC
// stream to the collector, and drops (and counts) what it cannot deliver.
// It never blocks: the proxy's request path only ever enqueues.
type sender struct {
	host    Host
	cfg     *config.Config
	metrics *metrics
	now     func() time.Time

	queue      [][]byte
	queueBytes int
	// spare holds encoding buffers of sent or dropped digests for reuse,
	// and msg the last batch's: the host copies what it sends. spareHeld
	// holds the lists of in-flight batches' digests.
	spare     [][]byte
	spareHeld [][][]byte
	msg       []byte
	// dropped since the last batch sent: reported in DigestBatch.dropped.
	unreported uint64

	open bool
	// confirmed says the collector acknowledged a batch on this stream.
	// Until then one batch at a time goes out: a stream to a collector
	// that is down fails after it was opened, so a stream is tried with
	// one batch before the queue follows.
	confirmed bool
	done      bool // shut down: nothing is sent any more
	streamID  uint32
	sequence  uint64
	inflight  map[uint64]inflightBatch
	backoff   time.Duration
	nextDial  time.Time
	lastFlush time.Time
	loggedErr time.Time
}

type inflightBatch struct {
	digests int
	sent    time.Time
	// reported is the dropped count the batch carried: counted again in
	// the next batch if this one is lost, so drops are not lost with it.
	reported uint64
	// held are the batch's digests, kept until it is acknowledged so that
	// they go back to the queue if the stream fails UNAVAILABLE.
	held [][]byte
	// unsent marks a batch the host refused to send: not counted in
	// digests_sent, so not in digests_requeued either.
	unsent bool
}

func newSender(h Host, cfg *config.Config, m *metrics, now func() time.Time) *sender {
	return &sender{host: h, cfg: cfg, metrics: m, now: now, inflight: map[uint64]inflightBatch{},
		backoff: time.Duration(cfg.Reconnect.InitialBackoff), lastFlush: now()}
}

// maxSpare bounds the buffers kept for reuse; larger ones are left to the GC.
const (
	maxSpare       = 128
	maxSpareBuffer = 64 << 10
)

// buffer returns an empty buffer to encode the next digest into.
func (s *sender) buffer() []byte {
	if n := len(s.spare); n > 0 {
		b := s.spare[n-1]
		s.spare = s.spare[:n-1]
		return b
	}
	return nil
}

// heldList returns an empty list for an in-flight batch's digests.
func (s *sender) heldList() [][]byte {
	if n := len(s.spareHeld); n > 0 {
		l := s.spareHeld[n-1]
		s.spareHeld = s.spareHeld[:n-1]
		return l
	}
	return nil
}

// release recycles an in-flight batch's digests and its list.
func (s *sender) release(held [][]byte) {
	s.recycle(held...)
	s.recycleList(held)
}

// recycleList keeps the list of an in-flight batch whose digests are
// recycled or queued again.
func (s *sender) recycleList(held [][]byte) {
	clear(held)
	if len(s.spareHeld) < maxInflight {
		s.spareHeld = append(s.spareHeld, held[:0])
	}
}

// recycle keeps buffers whose digests were sent or dropped.
func (s *sender) recycle(bufs ...[]byte) {
	for _, b := range bufs {
		if len(s.spare) < maxSpare && cap(b) <= maxSpareBuffer {
			s.spare = append(s.spare, b[:0])
		}
	}
}

// enqueue takes one encoded ResponseDigest; it drops it when the queue is full.
func (s *sender) enqueue(d []byte) {
	size := wire.BatchDigestSize(len(d))
	switch {
	case s.done:
		s.drop(DropShutdown, 1)
		s.recycle(d)
		return
	case size > s.cfg.Batch.MaxBytes:
		s.drop(DropTooLarge, 1)
		s.recycle(d)
		return
	case len(s.queue) >= s.cfg.Queue.MaxDigests || s.queueBytes+size > s.cfg.Queue.MaxBytes:
		s.drop(DropQueueFull, 1)
		s.recycle(d)
		return
	}
	s.queue = append(s.queue, d)
	s.queueBytes += size
	if len(s.queue) >= s.cfg.Batch.MaxDigests || s.queueBytes >= s.cfg.Batch.MaxBytes {
		s.flush()
	}
}

func (s *sender) tick() {
	now := s.now()
	s.expireInflight(now)
	if len(s.queue) > 0 && now.Sub(s.lastFlush) >= time.Duration(s.cfg.Batch.FlushInterval) {
		s.flush()
	}
}

// full says a digest enqueued now would be dropped (queue_full): the
// caller can skip computing it.
func (s *sender) full() bool {
	return len(s.queue) >= s.cfg.Queue.MaxDigests || s.queueBytes >= s.cfg.Queue.MaxBytes
}

// flush sends as many full or partial batches as the in-flight bound allows.
func (s *sender) flush() {
	s.lastFlush = s.now()
	if !s.open && !s.dial() {
		return
	}
	limit := maxInflight
	if !s.confirmed {
		limit = 1
	}
	for len(s.queue) > 0 && len(s.inflight) < limit {
		if !s.sendBatch() {
			return
		}
	}
}

func (s *sender) sendBatch() bool {
	s.sequence++
	msg := wire.AppendBatchHeader(s.msg[:0], s.sequence, s.unreported)
	n := 0
	for n < len(s.queue) && n < s.cfg.Batch.MaxDigests {
		size := wire.BatchDigestSize(len(s.queue[n]))
		if n > 0 && len(msg)+size > s.cfg.Batch.MaxBytes {
			break
		}
		msg = wire.AppendBatchDigest(msg, s.queue[n])
		s.queueBytes -= size
		n++
	}
	b := inflightBatch{digests: n, sent: s.now(), reported: s.unreported, held: s.heldList()}
	b.held = append(b.held, s.queue[:n]...)
	rest := copy(s.queue, s.queue[n:])
	clear(s.queue[rest:])
	s.queue = s.queue[:rest]
	if cap(msg) <= maxSpareBuffer*4 {
		s.msg = msg
	}
	s.unreported = 0
	if err := s.host.SendOnStream(s.streamID, msg); err != nil {
		// The host did not send it: like a stream that failed at once.
		s.logErr(fmt.Sprintf("shadowdiff: send to collector: %v", err))
		b.unsent = true
		s.inflight[s.sequence] = b
		s.lost(DropStreamClosed, false, true)
		return false
	}
	s.inflight[s.sequence] = b
	s.metrics.sent.Add(uint64(n))
	s.metrics.bytesSent.Add(uint64(len(msg)))
	return true
}

// dial opens the stream unless a backoff is running.
func (s *sender) dial() bool {
	now := s.now()
	if now.Before(s.nextDial) {
		return false
	}
	// The authority goes in the GrpcService, not in the initial metadata:
	// Envoy adds metadata to the headers it made, so an :authority there
	// is appended to the cluster name's ("outbound|...,host"), not set.
	id, err := s.host.OpenStream(s.cfg.Collector.Cluster, s.cfg.Collector.Authority, "shadowdiff.v1.Collector", "Ingest", nil)
	if err != nil {
		s.logErr(fmt.Sprintf("shadowdiff: open stream to collector cluster %q: %v", s.cfg.Collector.Cluster, err))
		s.scheduleRedial()
		return false
	}
	s.open, s.confirmed, s.streamID = true, false, id
	return true
}

func (s *sender) scheduleRedial() {
	// Full jitter keeps a fleet of sidecars from reconnecting in step.
	b := max(s.backoff, 1)
	wait := time.Duration(math.MaxInt64)
	if j := time.Duration(rand.Int64N(int64(b))); j <= wait-b/2 {
		wait = j + b/2
	}
	s.nextDial = s.now().Add(wait)
	// Doubling saturates at max_backoff: backoff*2 must not overflow into a
	// negative bound, on which rand.Int64N panics (a trap of the VM).
	limit := time.Duration(s.cfg.Reconnect.MaxBackoff)
	if s.backoff > limit/2 {
		s.backoff = limit
	} else {
		s.backoff = min(s.backoff*2, limit)
	}
}

func (s *sender) onMessage(id uint32, msg []byte) {
	if !s.open || id != s.streamID {
		return
	}
	ack, err := wire.ParseDigestAck(msg)
	if err != nil {
		s.logErr(fmt.Sprintf("shadowdiff: bad ack from collector: %v", err))
		return
	}
	b, ok := s.inflight[ack.Sequence]
	if !ok {
		return
	}
	delete(s.inflight, ack.Sequence)
	s.release(b.held)
	s.confirmed = true
	s.backoff = time.Duration(s.cfg.Reconnect.InitialBackoff) // the collector is healthy again
	s.metrics.acked.Add(uint64(ack.Accepted))
	if len(ack.Rejections) > 0 {
		s.metrics.drop(DropRejected, len(ack.Rejections))
		s.logErr(fmt.Sprintf("shadowdiff: collector rejected %d of %d digests, first: %s", len(ack.Rejections), b.digests, ack.Rejections[0].Reason))
	}
	if len(s.queue) > 0 && len(s.queue) >= s.cfg.Batch.MaxDigests {
		s.flush()
	}
}

func (s *sender) onClose(id uint32, status int32, message string) {
	if !s.open || id != s.streamID {
		return
	}
	s.logErr(fmt.Sprintf("shadowdiff: collector stream closed: grpc status %d: %s", status, message))
	s.lost(DropStreamClosed, true, status == grpcUnavailable)
}

// drop counts digests that will not reach the collector, and remembers them
// for the next batch's dropped field.
func (s *sender) drop(reason string, n int) {
	s.metrics.drop(reason, n)
	s.unreported += uint64(n)
}

// lost forgets the stream: unacknowledged batches are dropped for reason
// (the collector may or may not have them; resending could double-count)
// and a reconnect is scheduled. A stream the collector closed (remoteClosed)
// is closed in turn, which frees it in Envoy; one the plugin gives up on
// while it may still be open (ack timeout, send error) is reset: in Envoy
// proxy_grpc_close is only a half-close, and a collector that never answers
// would keep every abandoned stream open.
//
// unreachable says the stream failed for want of a collector: UNAVAILABLE
// (connection refused, no healthy upstream, or the collector shutting down,
// which stores no batch it does not acknowledge), or the host could not
// send. The unacknowledged batches then go back to the front of the queue
// instead, in the order they were sent; a digest the collector did store
// (it crashed between storing and acknowledging) is counted there as a
// duplicate, which costs less than losing the batch.
func (s *sender) lost(reason string, remoteClosed, unreachable bool) {
	n, resent := 0, 0
	var requeue [][]byte
	for _, seq := range slices.Sorted(maps.Keys(s.inflight)) {
		b := s.inflight[seq]
		s.unreported += b.reported
		if unreachable {
			requeue = append(requeue, b.held...)
			if !b.unsent {
				resent += len(b.held)
			}
			s.recycleList(b.held)
			continue
		}
		s.release(b.held)
		n += b.digests
	}
	s.drop(reason, n)
	clear(s.inflight)
	s.requeue(requeue, resent)
	if s.open {
		s.open = false
		s.metrics.streamReconnects.Add(1)
		if remoteClosed {
			_ = s.host.CloseStream(s.streamID)
		} else {
			_ = s.host.CancelStream(s.streamID)
		}
	}
	s.scheduleRedial()
}

// requeue puts digests of batches that never reached a collector back at
// the front of the queue, oldest first as they were sent; sent of them were
// counted in digests_sent, and count in digests_requeued. The queue's
// bounds still hold: what no longer fits is dropped from its end, the
// newest digests, as enqueue would have.
func (s *sender) requeue(ds [][]byte, sent int) {
	if len(ds) == 0 {
		return
	}
	s.metrics.requeued.Add(uint64(sent))
	s.queue = append(ds, s.queue...)
	s.queueBytes = 0
	for i, d := range s.queue {
		size := wire.BatchDigestSize(len(d))
		if i >= s.cfg.Queue.MaxDigests || s.queueBytes+size > s.cfg.Queue.MaxBytes {
			s.drop(DropQueueFull, len(s.queue)-i)
			s.recycle(s.queue[i:]...)
			clear(s.queue[i:])
			s.queue = s.queue[:i]
			break
		}
		s.queueBytes += size
	}
}

// shutdown counts what will never be delivered or acknowledged, queued
// digests and in-flight batches, as dropped, and resets the stream.
func (s *sender) shutdown() {
	n := len(s.queue)
	for _, b := range s.inflight {
		n += b.digests
		s.release(b.held)
	}
	s.drop(DropShutdown, n)
	clear(s.inflight)
	clear(s.queue)
	s.queue, s.queueBytes = s.queue[:0], 0
	s.done = true
	if s.open {
		s.open = false
		_ = s.host.CancelStream(s.streamID)
	}
}

// expireInflight gives up on a collector that stopped acknowledging.
func (s *sender) expireInflight(now time.Time) {
	limit := time.Duration(s.cfg.Collector.Timeout)
	for _, b := range s.inflight {
		if now.Sub(b.sent) > limit {
			s.logErr("shadowdiff: collector did not acknowledge within collector.timeout; reconnecting")
			s.lost(DropAckTimeout, false, false)
			return
		}
	}
}

// logErr rate-limits error logs to one per 10 s: a collector outage must
// not flood the proxy's log.
func (s *sender) logErr(msg string) {
	if now := s.now(); now.Sub(s.loggedErr) >= 10*time.Second {
		s.loggedErr = now
		s.host.Log(LogWarn, msg)
	}
}
