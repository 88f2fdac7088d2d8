package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// collector implements shadowdiff.v1.Collector on top of an Ingester.
type collector struct {
	shadowdiffv1.UnimplementedCollectorServer

	ingester   Ingester
	maxDigests int
	maxBytes   int
	validate   func(*shadowdiffv1.ResponseDigest) error
	metrics    *metrics
	log        *slog.Logger
	draining   <-chan struct{}
	// buffers is the server's buffer pool, gRPC's too: a batch's copy or
	// its spill buffer (see wireBatch) comes from there.
	buffers *dirtyPool
}

type received struct {
	*wireBatch
	size int
	err  error
}

// Ingest acknowledges each batch of the stream once the ingester stored it.
// A digest that cannot be decoded is rejected in the ack, as an invalid one
// is; a batch that cannot be (its digests cannot be told apart), is over
// the limits, or whose sequence does not increase ends the stream with
// InvalidArgument; an ingester failure ends it with Unavailable (the
// batches not acknowledged were not stored: the filter reconnects and sends
// them again). A bug in storing a batch (the ingester says Internal) has
// its digests rejected: the same batch would fail again.
func (c *collector) Ingest(stream grpc.BidiStreamingServer[shadowdiffv1.DigestBatch, shadowdiffv1.DigestAck]) error {
	ctx := stream.Context()
	log := c.log.With("rpc", rpcIngest)
	if p, ok := peer.FromContext(ctx); ok {
		log = log.With("peer", p.Addr.String())
	}
	c.metrics.streams.Inc()
	defer c.metrics.streams.Dec()
	log.Debug("ingest stream opened")

	// Receive on a goroutine so that a shutdown can end a stream that is
	// waiting for its next batch.
	in := make(chan received)
	_, encoded := c.ingester.(EncodedIngester)
	go func() {
		for {
			wb := &wireBatch{skipFields: encoded, maxDigests: c.maxDigests, pool: c.buffers}
			err := stream.RecvMsg(wb)
			size := 0
			if err == nil {
				size = receivedSize(ctx, wb.batch)
			}
			select {
			case in <- received{wb, size, err}:
			case <-ctx.Done():
				wb.free()
				return
			}
			if err != nil {
				return
			}
		}
	}()

	var last uint64
	batches := 0
	for {
		select {
		case <-ctx.Done():
			// The sender went away without closing its side: the receive
			// goroutine may have dropped its error, so nothing else ends
			// the handler.
			log.Debug("ingest stream ended by its context", "batches", batches, "error", ctx.Err())
			return status.FromContextError(ctx.Err()).Err()
		case <-c.draining:
			log.Debug("ingest stream ended by shutdown", "batches", batches)
			return shuttingDown("reconnect: batches not acknowledged were not stored")
		case r := <-in:
			if errors.Is(r.err, io.EOF) {
				log.Debug("ingest stream closed by sender", "batches", batches)
				return nil
			}
			if r.err != nil {
				return c.recvError(log, r.err)
			}
			if r.malformed != nil {
				err := c.malformedBatch(rpcIngest, r.malformed)
				log.Warn("ingest stream refused", "error", err)
				return err
			}
			if r.batch.GetSequence() <= last {
				c.metrics.batches.WithLabelValues(rpcIngest, resultInvalid).Inc()
				err := status.Errorf(codes.InvalidArgument,
					"batch sequence %d does not follow %d: sequences start at 1 and increase with every batch of a stream",
					r.batch.GetSequence(), last)
				log.Warn("ingest stream refused", "error", err)
				return err
			}
			last = r.batch.GetSequence()
			if r.over > 0 {
				r.free()
				err := c.tooManyDigests(rpcIngest, r.batch.GetSequence(), r.over)
				log.Warn("ingest stream ended", "sequence", r.batch.GetSequence(), "error", err)
				return err
			}
			ack, err := c.store(ctx, rpcIngest, r.batch, r.wire, r.undecodable, r.size)
			r.free() // the ingester is done with the encodings
			if err != nil {
				log.Warn("ingest stream ended", "sequence", r.batch.GetSequence(), "error", err)
				return err
			}
			if err := stream.Send(ack); err != nil {
				return err
			}
			batches++
		}
	}
}

// recvError logs why a stream could not be read. gRPC has already sent the
// status (ResourceExhausted for a message over its read limit).
func (c *collector) recvError(log *slog.Logger, err error) error {
	if status.Code(err) == codes.ResourceExhausted {
		c.metrics.batches.WithLabelValues(rpcIngest, resultInvalid).Inc()
		log.Warn("ingest stream refused", "error", err, "max_recv_bytes", c.maxBytes)
	}
	return err
}

// Report stores one batch; a malformed digest fails the call with
// InvalidArgument naming it. With a validator, nothing of such a batch is
// stored; without one the ingester decides per digest and the message says
// how many were stored.
func (c *collector) Report(ctx context.Context, b *shadowdiffv1.DigestBatch) (*shadowdiffv1.DigestAck, error) {
	return c.report(ctx, b, nil)
}

// report is Report for a batch whose undecodable digests (bad) were left
// out of b.
func (c *collector) report(ctx context.Context, b *shadowdiffv1.DigestBatch, bad []undecodable) (*shadowdiffv1.DigestAck, error) {
	if c.validate != nil && len(b.GetDigests())+len(bad) <= c.maxDigests {
		if first := c.firstInvalid(b, bad); first != nil {
			c.metrics.batches.WithLabelValues(rpcReport, resultInvalid).Inc()
			return nil, status.Errorf(codes.InvalidArgument, "digest %d: %s (nothing of the batch was stored)", first.GetIndex(), first.GetReason())
		}
	}
	ack, err := c.store(ctx, rpcReport, b, nil, bad, receivedSize(ctx, b))
	if err != nil {
		return nil, err
	}
	if len(ack.Rejections) > 0 {
		first := ack.Rejections[0]
		return nil, status.Errorf(codes.InvalidArgument, "digest %d: %s (%d rejected, %d accepted)",
			first.GetIndex(), first.GetReason(), len(ack.Rejections), ack.GetAccepted())
	}
	return ack, nil
}

// firstInvalid is the rejection of the batch's first digest, in the
// batch's order, that could not be decoded (bad, left out of b) or that
// the validator refuses; nil when there is none.
func (c *collector) firstInvalid(b *shadowdiffv1.DigestBatch, bad []undecodable) *shadowdiffv1.Rejection {
	pos := 0 // the batch position of b's digest, counting the undecodable ones
	for _, d := range b.GetDigests() {
		if len(bad) > 0 && bad[0].index == pos {
			return bad[0].rejection() // it came first
		}
		if err := c.validate(d); err != nil {
			return &shadowdiffv1.Rejection{Index: uint32(pos), Reason: err.Error()}
		}
		pos++
	}
	if len(bad) > 0 {
		return bad[0].rejection()
	}
	return nil
}

// malformedBatch counts and returns the refusal of a batch that could not
// be decoded.
func (c *collector) malformedBatch(rpc string, err error) error {
	c.metrics.batches.WithLabelValues(rpc, resultInvalid).Inc()
	return status.Errorf(codes.InvalidArgument, "batch is not a valid DigestBatch: %v", err)
}

// tooManyDigests counts and returns the refusal of batch seq of n
// digests, over --max-batch-digests.
func (c *collector) tooManyDigests(rpc string, seq uint64, n int) error {
	c.metrics.batches.WithLabelValues(rpc, resultInvalid).Inc()
	return status.Errorf(codes.InvalidArgument,
		"batch %d has %d digests, more than the collector's limit of %d (--max-batch-digests)", seq, n, c.maxDigests)
}

// maxDropped is the most digests one batch may report dropped: 2^53,
// centuries of drops at a million requests a second, and the largest
// count the float64 of a Prometheus counter holds exactly. A larger count
// is a bug or forged (two batches of 2^64-1 wrapped the store's total
// around, which now saturates).
const maxDropped = 1 << 53

// store checks the batch (of size bytes, decoded) against the limits and
// passes it to the ingester, with its digests' encodings (wire, may be
// nil) when the ingester takes them. The digests that could not be decoded
// (bad, left out of b) are rejected with the ingester's rejections.
func (c *collector) store(ctx context.Context, rpc string, b *shadowdiffv1.DigestBatch, wire [][]byte, bad []undecodable, size int) (*shadowdiffv1.DigestAck, error) {
	n := len(b.GetDigests()) + len(bad)
	if n > c.maxDigests {
		return nil, c.tooManyDigests(rpc, b.GetSequence(), n)
	}
	if size > c.maxBytes {
		c.metrics.batches.WithLabelValues(rpc, resultInvalid).Inc()
		return nil, status.Errorf(codes.InvalidArgument,
			"batch %d is %d bytes, more than the collector's limit of %d bytes (--max-recv-bytes)",
			b.GetSequence(), size, c.maxBytes)
	}
	d := b.GetDropped()
	if d > maxDropped {
		c.metrics.batches.WithLabelValues(rpc, resultInvalid).Inc()
		return nil, status.Errorf(codes.InvalidArgument,
			"batch %d reports %d digests dropped, more than the collector accepts in one batch (%d)",
			b.GetSequence(), d, uint64(maxDropped))
	}
	ack := &shadowdiffv1.DigestAck{Sequence: b.GetSequence()}
	var accepted int
	var rejections []*shadowdiffv1.Rejection
	if len(b.GetDigests()) > 0 {
		start := time.Now()
		var err error
		if ei, ok := c.ingester.(EncodedIngester); ok && wire != nil {
			accepted, rejections, err = ei.IngestEncoded(ctx, b.GetDigests(), wire)
		} else {
			accepted, rejections, err = c.ingester.Ingest(ctx, b.GetDigests())
		}
		c.metrics.latency.WithLabelValues(rpc).Observe(time.Since(start).Seconds())
		if s, ok := status.FromError(err); ok && s.Code() == codes.Internal && ctx.Err() == nil {
			// A bug the batch would hit again (the engine reloads its
			// state): its digests are refused, not stored, and the stream
			// goes on, so the batches in flight behind it are not lost.
			accepted, rejections, err = 0, rejectAll(len(b.GetDigests()), s.Message()), nil
		}
		if err != nil {
			c.metrics.batches.WithLabelValues(rpc, resultError).Inc()
			return nil, ingestError(ctx, err)
		}
	}
	// The drops are recorded once the digests are stored: a batch refused
	// Unavailable comes again with its dropped count, which would then be
	// counted twice. Once its digests are stored, a batch is acknowledged
	// even if its drops cannot be recorded: sent again, they would count
	// twice instead.
	if d > 0 {
		if r, ok := c.ingester.(DropRecorder); ok {
			if err := r.RecordDropped(ctx, d); err != nil {
				if len(b.GetDigests()) == 0 {
					c.metrics.batches.WithLabelValues(rpc, resultError).Inc()
					return nil, ingestError(ctx, err)
				}
				c.log.Warn("could not record the digests a filter dropped", "rpc", rpc, "sequence", b.GetSequence(), "dropped", d, "error", err)
			}
		}
		c.metrics.filterDropped.WithLabelValues(rpc).Add(float64(d))
	}
	if n == 0 {
		c.metrics.batches.WithLabelValues(rpc, resultOK).Inc()
		return ack, nil
	}
	rejections = batchRejections(rejections, bad)
	c.metrics.batches.WithLabelValues(rpc, resultOK).Inc()
	c.metrics.received.WithLabelValues(rpc).Add(float64(n))
	c.metrics.rejected.WithLabelValues(rpc).Add(float64(len(rejections)))
	ack.Accepted = uint32(accepted)
	ack.Rejections = rejections
	return ack, nil
}

// rejectAll rejects the n digests of a batch for reason.
func rejectAll(n int, reason string) []*shadowdiffv1.Rejection {
	out := make([]*shadowdiffv1.Rejection, n)
	for i := range out {
		out[i] = &shadowdiffv1.Rejection{Index: uint32(i), Reason: reason}
	}
	return out
}

// batchRejections returns the rejections of a batch whose undecodable
// digests (bad) the ingester did not see: the ingester's (ingested), their
// indices moved past the digests left out before them, and bad's, in the
// batch's order.
func batchRejections(ingested []*shadowdiffv1.Rejection, bad []undecodable) []*shadowdiffv1.Rejection {
	if len(bad) == 0 {
		return ingested
	}
	out := make([]*shadowdiffv1.Rejection, 0, len(ingested)+len(bad))
	for _, r := range ingested {
		i := int(r.GetIndex())
		for _, u := range bad { // in the batch's order
			if u.index > i {
				break
			}
			i++
		}
		r.Index = uint32(i)
		out = append(out, r)
	}
	for _, u := range bad {
		out = append(out, u.rejection())
	}
	slices.SortFunc(out, func(a, b *shadowdiffv1.Rejection) int { return cmp.Compare(a.GetIndex(), b.GetIndex()) })
	return out
}

// ingestError maps an ingester failure to Unavailable, so the sender retries
// (the filter sends an unacknowledged batch again after Unavailable), unless
// the call itself was cancelled or timed out.
func ingestError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	return status.Error(codes.Unavailable, fmt.Sprintf("collector could not store the batch, retry: %v", err))
}
