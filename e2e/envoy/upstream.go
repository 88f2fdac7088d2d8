package envoy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
)

type upstreamEventKind int

const (
	upHeaders upstreamEventKind = iota
	upData
	upEnd
	upError
)

// upstreamEvent is one step of the primary's response. upData and upEnd
// may carry bytes, lent from buf (see chunkPool).
type upstreamEvent struct {
	kind    upstreamEventKind
	resp    *http.Response
	buf     *[]byte
	data    []byte
	trailer http.Header
	err     error
}

// upstream is the router's request to the primary cluster. Its goroutine
// sends the request and hands the response to the stream's loop, one
// event at a time, so the loop's flow control reaches the upstream.
type upstream struct {
	srv    *Server
	events chan upstreamEvent
	cancel context.CancelFunc
}

// startUpstream sends req, whose context is ctx, which cancel ends.
func startUpstream(ctx context.Context, cancel context.CancelFunc, srv *Server, c *cluster, req *http.Request) *upstream {
	u := &upstream{srv: srv, events: make(chan upstreamEvent), cancel: cancel}
	go u.run(ctx, c, req)
	return u
}

func (u *upstream) run(ctx context.Context, c *cluster, req *http.Request) {
	resp, err := c.send(req)
	if err != nil {
		u.send(ctx, upstreamEvent{kind: upError, err: err})
		return
	}
	defer resp.Body.Close()
	if !u.send(ctx, upstreamEvent{kind: upHeaders, resp: resp}) {
		return
	}
	for {
		buf, data, err := u.srv.chunks.read(resp.Body)
		ev := upstreamEvent{kind: upData, buf: buf, data: data}
		switch {
		case err == io.EOF:
			// The last bytes and the end go together: one hand-off less.
			ev.kind, ev.trailer = upEnd, resp.Trailer
		case err != nil:
			if buf != nil && !u.send(ctx, ev) {
				return
			}
			u.send(ctx, upstreamEvent{kind: upError, err: err})
			return
		}
		if !u.send(ctx, ev) || ev.kind == upEnd {
			return
		}
	}
}

// send hands ev to the stream's loop, which then owns its buffer; the
// buffer goes back to the pool if the stream is gone.
func (u *upstream) send(ctx context.Context, ev upstreamEvent) bool {
	select {
	case u.events <- ev:
		return true
	case <-ctx.Done():
		u.srv.chunks.put(ev.buf)
		return false
	}
}

// resetReason names an upstream failure like Envoy's local reply body
// and response flag.
func resetReason(err error) (reason, flag string) {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return "connection failure", "UF"
	}
	return "connection termination", "UC"
}

// mirror is one shadow request: fire and forget.
type mirror struct {
	cluster *cluster
	body    *bodyQueue
	dropped bool
}

// runMirror sends a shadow request, whose context bounds it and which
// cancel ends, and discards its response.
func (s *Server) runMirror(c *cluster, req *http.Request, cancel context.CancelFunc) {
	defer s.mirrorsRunning.Done()
	defer cancel()
	resp, err := c.send(req)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		c.logger.Debug("shadow request failed", "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
