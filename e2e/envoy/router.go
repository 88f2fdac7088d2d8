package envoy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

var errMirrorOverflow = errors.New("shadow request body over the buffer limit")

// router is the terminal filter: it sends the request to the route's
// cluster, streams it to the mirrors, and feeds the response back.
type router struct {
	s           *stream
	route       *Route
	cluster     *cluster
	primary     *bodyQueue
	mirrors     []mirror
	cancels     []context.CancelFunc
	requestDone bool
	headersSeen bool
	start       time.Time
}

func (rt *router) headers(h *httpfilter.Headers, end bool) {
	s := rt.s
	// Filters may have changed the headers: match again (Envoy clears the route cache).
	route := s.selectRoute(h)
	if route == nil {
		s.l.stats.noRoute.Add(1)
		s.flag("NR")
		s.localReply(http.StatusNotFound, nil, nil, "route_not_found")
		return
	}
	c, ok := s.l.srv.clusters[route.Cluster]
	if !ok {
		s.l.stats.noCluster.Add(1)
		s.flag("NC")
		s.localReply(http.StatusServiceUnavailable, nil, nil, "cluster_not_found")
		return
	}
	host, err := c.NextEndpoint()
	if err != nil {
		s.flag("UH")
		s.localReply(http.StatusServiceUnavailable, []byte("no healthy upstream"), nil, "no_healthy_upstream")
		return
	}
	rt.route, rt.cluster = route, c
	s.info.UpstreamAddress = host
	if route.PrefixRewrite != "" {
		orig, _ := h.Get(":path")
		h.Set(":path", route.rewritePath(orig))
		h.Set("x-envoy-original-path", orig)
	}
	if route.Timeout > 0 {
		h.Set("x-envoy-expected-rq-timeout-ms", strconv.FormatInt(route.Timeout.Milliseconds(), 10))
	}
	// Shadows copy the headers exactly as the router sends them upstream.
	head := newUpstreamHead(h)
	authority, _ := h.Get(":authority")
	rt.startMirrors(&head, authority, end)
	ctx, cancel := context.WithCancel(s.ctx())
	req, body, err := rt.newRequest(ctx, &head, head.header, authority, end, host)
	if err != nil {
		cancel()
		s.localReply(http.StatusBadRequest, []byte(err.Error()), nil, "invalid_request")
		return
	}
	rt.primary = body
	rt.start = time.Now()
	s.up = startUpstream(ctx, cancel, s.l.srv, c, req)
	rt.cancels = append(rt.cancels, cancel)
	if end {
		rt.requestComplete()
	}
}

// upstreamHead is what the upstream requests of a stream (the primary
// and its shadows) share: the request line and the header fields, taken
// once from the header map the router sends.
type upstreamHead struct {
	method, path  string
	header        http.Header
	contentLength int64 // -1 if unknown
}

func newUpstreamHead(h *httpfilter.Headers) upstreamHead {
	method, _ := h.Get(":method")
	path, _ := h.Get(":path")
	header := httpHeader(h, "content-length", "expect", "host")
	if _, ok := header["User-Agent"]; !ok {
		header["User-Agent"] = []string{""} // Go would add its own
	}
	return upstreamHead{method: method, path: path, header: header, contentLength: contentLength(h)}
}

// newRequest builds an upstream request with header (head's or a copy:
// requests never share one); its body, if the request has one, is a queue
// the router feeds.
func (rt *router) newRequest(ctx context.Context, head *upstreamHead, header http.Header, authority string, end bool, host string) (*http.Request, *bodyQueue, error) {
	method, path := head.method, head.path
	req, err := http.NewRequestWithContext(ctx, method, "", nil)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid :method %q: %w", method, err)
	}
	req.URL.Scheme, req.URL.Host = "http", host
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		u, err := url.ParseRequestURI(path)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid :path %q: %w", path, err)
		}
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery, req.URL.ForceQuery = u.Path, u.RawPath, u.RawQuery, u.ForceQuery
	} else {
		// Opaque keeps the path and query byte for byte on the request line.
		req.URL.Opaque = path
	}
	req.Host = authority
	req.Header = header
	if end {
		return req, nil, nil
	}
	body := newBodyQueue(rt.s.notify)
	req.Body, req.ContentLength = body, head.contentLength
	if req.ContentLength < 0 {
		req.ContentLength = 0 // with a body: unknown length, sent chunked
	}
	if len(rt.s.trailerKeys) > 0 {
		// Announced trailers: the keys now, the values when the body ends
		// (set by the body queue on the transport's goroutine).
		req.Trailer = http.Header{}
		for _, k := range rt.s.trailerKeys {
			req.Trailer[k] = nil
		}
		body.trailer = req.Trailer
	}
	return req, body, nil
}

// startMirrors starts the route's shadow requests the stream id selects:
// id % denominator < numerator, one id for every policy, as Envoy does.
func (rt *router) startMirrors(head *upstreamHead, authority string, end bool) {
	s := rt.s
	for _, p := range rt.route.Mirrors {
		if p.Denominator == 0 || s.id%p.Denominator >= p.Numerator {
			continue
		}
		c, ok := s.l.srv.clusters[p.Cluster]
		if !ok {
			continue // Envoy skips a mirror whose cluster does not exist
		}
		host, err := c.NextEndpoint()
		if err != nil {
			c.stats.shadowDropped.Add(1)
			continue
		}
		shadow := authority
		switch {
		case p.HostRewrite != "":
			shadow = p.HostRewrite
		case !p.DisableShadowSuffix:
			shadow = shadowAuthority(authority)
		}
		ctx, cancel := s.l.srv.mirrorContext(rt.route.Timeout)
		req, body, err := rt.newRequest(ctx, head, head.header.Clone(), shadow, end, host)
		if err != nil {
			cancel()
			continue
		}
		rt.mirrors = append(rt.mirrors, mirror{cluster: c, body: body})
		s.l.srv.mirrorsRunning.Add(1)
		go s.l.srv.runMirror(c, req, cancel)
	}
}

func (rt *router) data(b []byte, end bool) {
	if len(b) > 0 && (rt.primary != nil || len(rt.mirrors) > 0) {
		// b is lent for this call (see chunkPool): the upstream bodies keep
		// one copy, which they share as they only read it.
		b = bytes.Clone(b)
	}
	if rt.primary != nil && len(b) > 0 {
		rt.primary.Push(b)
	}
	for i := range rt.mirrors {
		m := &rt.mirrors[i]
		if m.dropped || m.body == nil || len(b) == 0 {
			continue
		}
		// A mirror never slows the primary: one that lags by more than the
		// buffer limit is dropped instead of applying backpressure.
		if !m.body.Push(b) || m.body.Len() > rt.s.dec.limit {
			m.body.Finish(errMirrorOverflow)
			m.dropped = true
			m.cluster.stats.shadowDropped.Add(1)
		}
	}
	if end {
		rt.finishBodies(nil)
		rt.requestComplete()
	}
}

func (rt *router) trailers(t *httpfilter.Headers) {
	trailer := httpHeader(t)
	if rt.primary != nil {
		rt.primary.FinishWithTrailer(trailer)
	}
	for _, m := range rt.mirrors {
		if m.body != nil {
			m.body.FinishWithTrailer(trailer)
		}
	}
	rt.requestComplete()
}

func (rt *router) finishBodies(err error) {
	if rt.primary != nil {
		rt.primary.Finish(err)
	}
	for _, m := range rt.mirrors {
		if m.body != nil {
			m.body.Finish(err)
		}
	}
}

// requestComplete starts the route timeout, which in Envoy spans from the
// end of the downstream request to the end of the upstream response.
func (rt *router) requestComplete() {
	rt.requestDone = true
	if rt.route.Timeout > 0 && rt.s.up != nil {
		rt.s.timeout = time.NewTimer(rt.route.Timeout)
	}
}

// backpressured reports that the primary upstream lags: stop reading the
// downstream request body until it catches up.
func (rt *router) backpressured() bool {
	return rt.primary != nil && rt.primary.Len() > rt.s.dec.limit
}

func (rt *router) onUpstream(ev upstreamEvent) {
	s := rt.s
	switch ev.kind {
	case upHeaders:
		rt.headersSeen = true
		s.info.FirstUpstreamByte = time.Now()
		h := responseHeaders(ev.resp)
		h.Set("x-envoy-upstream-service-time", strconv.FormatInt(time.Since(rt.start).Milliseconds(), 10))
		s.respHeaders = h
		s.enc.startHeaders(h, false)
	case upData:
		s.enc.runData(0, ev.data, false)
	case upEnd:
		s.up = nil
		if s.timeout != nil {
			s.timeout.Stop()
			s.timeout = nil
		}
		// The filters see the last bytes, then the end, as from Envoy's
		// HTTP/1 codec.
		if len(ev.data) > 0 {
			s.enc.runData(0, ev.data, false)
			if s.enc.halted {
				return
			}
		}
		if t := trailerHeaders(ev.trailer); t != nil {
			s.respTrailers = t
			s.enc.runTrailers(0, t)
		} else {
			s.enc.runData(0, nil, true)
		}
	case upError:
		s.up = nil
		reason, flag := resetReason(ev.err)
		s.flag(flag)
		if rt.headersSeen {
			s.doReset()
			return
		}
		body := "upstream connect error or disconnect/reset before headers. reset reason: " + reason
		s.localReply(http.StatusServiceUnavailable, []byte(body), nil,
			"upstream_reset_before_response_started{"+reason+"}")
	}
}

func (rt *router) onTimeout() {
	s := rt.s
	s.flag("UT")
	s.l.stats.rqTimeout.Add(1)
	if rt.cluster != nil {
		rt.cluster.stats.rqTimeout.Add(1)
	}
	if rt.headersSeen {
		s.doReset()
		return
	}
	s.localReply(http.StatusGatewayTimeout, []byte("upstream request timeout"), nil, "upstream_response_timeout")
}

// cancel abandons the primary upstream request (mirrors go on if their
// request is complete).
func (rt *router) cancel() {
	if s := rt.s; s.up != nil {
		s.up.cancel()
		s.up = nil
	}
	if !rt.requestDone {
		rt.finishBodies(errBodyAborted)
	}
}

// finish releases the stream's upstream resources when it ends.
func (rt *router) finish() {
	rt.cancel()
	for _, c := range rt.cancels {
		c()
	}
}
