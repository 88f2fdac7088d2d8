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

type upstreamEvent struct {
	kind    upstreamEventKind
	resp    *http.Response
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

func startUpstream(parent context.Context, srv *Server, c *cluster, req *http.Request) *upstream {
	ctx, cancel := context.WithCancel(parent)
	u := &upstream{srv: srv, events: make(chan upstreamEvent), cancel: cancel}
	go u.run(ctx, c, req.WithContext(ctx))
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
	err = u.srv.readChunks(resp.Body, func(b []byte) bool {
		return u.send(ctx, upstreamEvent{kind: upData, data: b})
	})
	switch {
	case err == io.EOF:
		u.send(ctx, upstreamEvent{kind: upEnd, trailer: resp.Trailer})
	case err != nil:
		u.send(ctx, upstreamEvent{kind: upError, err: err})
	}
}

func (u *upstream) send(ctx context.Context, ev upstreamEvent) bool {
	select {
	case u.events <- ev:
		return true
	case <-ctx.Done():
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

// runMirror sends a shadow request and discards its response.
func runMirror(ctx context.Context, c *cluster, req *http.Request, done func()) {
	defer done()
	resp, err := c.send(req.WithContext(ctx))
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
