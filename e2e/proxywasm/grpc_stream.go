package proxywasm

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

type grpcCall struct{ stop context.CancelFunc }

func (c *grpcCall) cancel() { c.stop() }

// grpcStream is a VM's gRPC stream. localClosed and remoteClosed are
// guarded by the VM lock; the send queue has its own.
type grpcStream struct {
	stop         context.CancelFunc
	sendq        *sendQueue
	localClosed  bool
	remoteClosed bool
}

func (s *grpcStream) cancel() {
	s.stop()
	s.sendq.abort()
}

// sendQueue holds messages until the stream's writer sends them, so that
// proxy_grpc_send never blocks the VM (Envoy buffers them too).
type sendQueue struct {
	mu      sync.Mutex
	items   [][]byte
	end     bool
	aborted bool
	wake    chan struct{}
}

func newSendQueue() *sendQueue { return &sendQueue{wake: make(chan struct{}, 1)} }

// push queues msg (nil for none) and, with end, a half-close after it.
func (q *sendQueue) push(msg []byte, end bool) {
	q.mu.Lock()
	if msg != nil {
		q.items = append(q.items, msg)
	}
	q.end = q.end || end
	q.mu.Unlock()
	q.signal()
}

func (q *sendQueue) abort() {
	q.mu.Lock()
	q.aborted = true
	q.items = nil
	q.mu.Unlock()
	q.signal()
}

func (q *sendQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next blocks for the next message; half-close is reported once all queued
// messages are out. ok is false when the queue is done.
func (q *sendQueue) next() (msg []byte, halfClose, ok bool) {
	for {
		q.mu.Lock()
		switch {
		case q.aborted:
			q.mu.Unlock()
			return nil, false, false
		case len(q.items) > 0:
			msg = q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.mu.Unlock()
			return msg, false, true
		case q.end:
			q.end = false
			q.aborted = true
			q.mu.Unlock()
			return nil, true, true
		}
		q.mu.Unlock()
		<-q.wake
	}
}

// grpcContext carries the call's metadata; the timeout applies to unary
// calls only (Envoy opens streams without one).
func (v *vm) grpcContext(t grpcTarget, unary bool) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(v.calloutCtx)
	if unary && t.timeout > 0 {
		ctx, cancel = context.WithTimeout(v.calloutCtx, t.timeout)
	}
	return metadata.NewOutgoingContext(ctx, t.metadata), cancel
}

func (v *vm) grpcConn(t grpcTarget) (*grpc.ClientConn, error) {
	addr, err := t.cluster.NextEndpoint()
	if err != nil {
		return nil, grpcstatus.Errorf(codes.Unavailable, "no healthy upstream: %v", err)
	}
	return v.p.r.conns.get(addr)
}

func (v *vm) startGrpcCall(id uint32, t grpcTarget, msg []byte) {
	ctx, cancel := v.grpcContext(t, true)
	v.callouts[id] = &grpcCall{stop: cancel}
	go func() {
		defer cancel()
		var reply []byte
		conn, err := v.grpcConn(t)
		if err == nil {
			err = checkAuthority(t.authority)
		}
		if err == nil {
			err = conn.Invoke(ctx, t.path, msg, &reply, grpc.CallAuthority(t.authority))
		}
		if err == nil {
			v.runAsync(func(fr *frame) { v.deliverGrpcMessage(fr, id, reply) })
			return
		}
		st := grpcstatus.Convert(err)
		v.runAsync(func(fr *frame) { v.deliverGrpcClose(fr, id, st) })
	}()
}

func (v *vm) startGrpcStream(id uint32, t grpcTarget) {
	ctx, cancel := v.grpcContext(t, false)
	s := &grpcStream{stop: cancel, sendq: newSendQueue()}
	v.callouts[id] = s
	go v.runGrpcStream(ctx, id, t, s)
}

// runGrpcStream drives one stream: a writer goroutine drains the send queue
// while this one delivers initial metadata, messages, trailing metadata and
// the close to the root context, in order.
func (v *vm) runGrpcStream(ctx context.Context, id uint32, t grpcTarget, s *grpcStream) {
	defer s.stop()
	defer s.sendq.abort()
	conn, err := v.grpcConn(t)
	if err == nil {
		err = checkAuthority(t.authority)
	}
	var cs grpc.ClientStream
	ctx, trailers := withTrailersSeen(ctx)
	if err == nil {
		cs, err = conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, t.path, grpc.CallAuthority(t.authority))
	}
	if err != nil {
		st := grpcstatus.Convert(err)
		v.runAsync(func(fr *frame) { v.deliverGrpcClose(fr, id, st) })
		return
	}
	go func() {
		for {
			msg, halfClose, ok := s.sendq.next()
			if !ok {
				return
			}
			if halfClose {
				_ = cs.CloseSend()
				return
			}
			if err := cs.SendMsg(msg); err != nil {
				return // the reader gets the stream's status
			}
		}
	}()
	md, err := cs.Header()
	gotHeaders := err == nil && md != nil
	if gotHeaders {
		h := &httpfilter.Headers{}
		h.Add(":status", "200")
		addMetadata(h, md)
		v.runAsync(func(fr *frame) { v.deliverGrpcMetadata(fr, id, h, true) })
	}
	for {
		var msg []byte
		if err = cs.RecvMsg(&msg); err != nil {
			break
		}
		v.runAsync(func(fr *frame) { v.deliverGrpcMessage(fr, id, msg) })
	}
	st := grpcstatus.New(codes.OK, "")
	if !errors.Is(err, io.EOF) {
		st = grpcstatus.Convert(err)
	}
	if gotHeaders && !trailers.Load() && st.Code() == codes.Unavailable {
		// The connection dropped after the response headers: Envoy's
		// gRPC client calls that a reset, INTERNAL, with no trailers.
		v.runAsync(func(fr *frame) { v.deliverGrpcClose(fr, id, grpcstatus.New(codes.Internal, "")) })
		return
	}
	if tr := cs.Trailer(); gotHeaders || len(tr) > 0 {
		h := &httpfilter.Headers{}
		addMetadata(h, tr)
		h.Add("grpc-status", strconv.Itoa(int(st.Code())))
		if st.Message() != "" {
			h.Add("grpc-message", st.Message())
		}
		v.runAsync(func(fr *frame) { v.deliverGrpcMetadata(fr, id, h, false) })
	}
	v.runAsync(func(fr *frame) { v.deliverGrpcClose(fr, id, st) })
}

// addMetadata appends gRPC metadata in wire form, keys sorted; binary
// values are base64 as on the wire.
func addMetadata(h *httpfilter.Headers, md metadata.MD) {
	for _, k := range slices.Sorted(maps.Keys(md)) {
		for _, val := range md[k] {
			if strings.HasSuffix(k, "-bin") {
				val = base64.RawStdEncoding.EncodeToString([]byte(val))
			}
			h.Add(k, val)
		}
	}
}

func (v *vm) deliverGrpcMetadata(fr *frame, id uint32, h *httpfilter.Headers, initial bool) {
	if _, ok := v.callouts[id]; !ok {
		return
	}
	fn := v.fns.onGrpcTrailing
	if initial {
		fn, fr.grpcInitial = v.fns.onGrpcInitialMetadata, h
	} else {
		fr.grpcTrailing = h
	}
	if fn != nil {
		_, _ = v.call(fr, fn, uint64(v.rootID), uint64(id), uint64(len(h.Fields)))
	}
}

func (v *vm) deliverGrpcMessage(fr *frame, id uint32, msg []byte) {
	if _, ok := v.callouts[id]; !ok {
		return
	}
	if id&calloutTypeMask == calloutGrpcCall {
		delete(v.callouts, id)
	}
	if v.fns.onGrpcReceive != nil {
		fr.grpcMessage = &msg
		_, _ = v.call(fr, v.fns.onGrpcReceive, uint64(v.rootID), uint64(id), uint64(len(msg)))
	}
}

// deliverGrpcClose reports the end of a call or stream. A stream the guest
// has not closed yet stays known (remote closed) until it does, as in Envoy.
func (v *vm) deliverGrpcClose(fr *frame, id uint32, st *grpcstatus.Status) {
	c, ok := v.callouts[id]
	if !ok {
		return
	}
	if s, isStream := c.(*grpcStream); isStream && !s.localClosed {
		s.remoteClosed = true
	} else {
		delete(v.callouts, id)
	}
	if v.fns.onGrpcClose != nil {
		fr.status = &calloutStatus{code: uint32(st.Code()), message: st.Message()}
		_, _ = v.call(fr, v.fns.onGrpcClose, uint64(v.rootID), uint64(id), uint64(uint32(st.Code())))
	}
}
