package envoy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

const chunkSize = 32 << 10

// errReaderStopped ends the body reader of a stream that ended.
var errReaderStopped = errors.New("request body reader stopped")

// stream is one downstream request and its response: Envoy's ActiveStream.
// One goroutine (the HTTP handler's) runs it as an event loop, so filter
// callbacks never run concurrently; filters resume it from any goroutine
// through their Callbacks.
type stream struct {
	l    *listener
	w    http.ResponseWriter
	rc   *http.ResponseController
	r    *http.Request
	id   uint64 // random stream id: decides mirroring
	info httpfilter.StreamInfo

	filters  []httpfilter.Filter
	dec, enc direction
	route    *Route

	reqHeaders, reqTrailers, respHeaders, respTrailers *httpfilter.Headers
	// trailerKeys are the request's announced trailers (r.Trailer's keys,
	// read before the body goroutine fills the map).
	trailerKeys []string

	mu      sync.Mutex
	actions []action
	wake    chan struct{}

	reqBody    chan bodyEvent
	readerDone chan struct{} // closed when the stream no longer takes body events
	// readerExited is closed when readRequestBody returns; nil without a body.
	readerExited chan struct{}
	// readMu guards readerStopped (no Body.Read may start) and bodyEOF
	// (Body.Read returned io.EOF: the body was read whole).
	readMu        sync.Mutex
	readerStopped bool
	bodyEOF       bool
	up            *upstream
	router        router
	timeout       *time.Timer

	responseStarted bool
	needFlush       bool // written to the downstream since the last flush
	localReplying   bool
	complete        bool
	reset           bool
	flags           []string
}

// bodyEvent is a step of the request body; data, if any, is lent from
// buf (see chunkPool) and may come with the end.
type bodyEvent struct {
	buf  *[]byte
	data []byte
	end  bool
	err  error
}

func newStream(l *listener, w http.ResponseWriter, r *http.Request) *stream {
	s := &stream{l: l, w: w, r: r, rc: http.NewResponseController(w), id: l.srv.streamID(),
		wake: make(chan struct{}, 1), readerDone: make(chan struct{})}
	s.info = httpfilter.StreamInfo{
		StartTime:               time.Now(),
		Protocol:                protocolName(r),
		DownstreamRemoteAddress: r.RemoteAddr,
		ListenerName:            l.cfg.Name,
		// FilterState stays nil until a filter writes (proxywasm creates it).
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(interface{ String() string }); ok {
		s.info.DownstreamLocalAddress = a.String()
	}
	if id, ok := r.Context().Value(connIDKey{}).(uint64); ok {
		s.info.ConnectionID = id
	}
	s.router = router{s: s}
	return s
}

// newFilterChain creates the stream's filters, like Envoy's
// createFilterChain (upgrades refused before it get none).
func (s *stream) newFilterChain() {
	l := s.l
	s.filters = make([]httpfilter.Filter, len(l.factories))
	for i, f := range l.factories {
		s.filters[i] = f.NewFilter(&callbacks{s: s, index: i})
	}
	n := len(s.filters)
	s.dec = direction{s: s, st: make([]filterState, n), sink: decodeSink{s}, limit: l.cfg.BufferLimit}
	s.enc = direction{s: s, encode: true, st: make([]filterState, n), sink: encodeSink{s}, limit: l.cfg.BufferLimit}
}

func protocolName(r *http.Request) string {
	if r.ProtoMajor == 2 {
		return "HTTP/2"
	}
	return r.Proto
}

// run processes the stream to its end.
func (s *stream) run() {
	st := s.l.stats
	st.rqTotal.Add(1)
	st.rqActive.Add(1)
	defer st.rqActive.Add(-1)
	defer s.stopBodyReader()

	if isUpgrade(s.r) {
		// Envoy without upgrade_configs refuses upgrades and CONNECT before
		// any filter runs; such requests are never routed nor mirrored.
		s.directReply(http.StatusForbidden, nil, nil, "upgrade_failed")
	} else {
		s.newFilterChain()
		s.begin()
		s.loop()
	}
	s.finish()
	if s.reset {
		panic(http.ErrAbortHandler) // resets the HTTP/2 stream or closes the HTTP/1 connection
	}
}

// stopBodyReader ends the request-body goroutine before the handler
// returns: net/http forbids reading a request body after that (the stream
// may end early, on a local reply or a reset, with the body still coming).
//
// A body read whole leaves the connection as it is: the reader exits by
// itself once readerDone is closed. Otherwise the response went out with
// "connection: close" (HTTP/1, see encodeSink.headers) and a read
// deadline unblocks a reader waiting for the client and keeps net/http
// from waiting for the rest of the body. Setting a deadline on a body read
// whole would break a connection the client goes on using.
func (s *stream) stopBodyReader() {
	close(s.readerDone)
	if s.readerExited == nil {
		return
	}
	s.readMu.Lock()
	s.readerStopped = true
	complete := s.bodyEOF
	s.readMu.Unlock()
	if !complete {
		if err := s.rc.SetReadDeadline(time.Now()); err != nil {
			_ = s.r.Body.Close()
		}
	}
	<-s.readerExited
}

// readBody reads the request body unless stopBodyReader ran.
func (s *stream) readBody(p []byte) (int, error) {
	s.readMu.Lock()
	stopped := s.readerStopped
	s.readMu.Unlock()
	if stopped {
		return 0, errReaderStopped
	}
	n, err := s.r.Body.Read(p)
	if err == io.EOF {
		s.readMu.Lock()
		s.bodyEOF = true
		s.readMu.Unlock()
	}
	return n, err
}

// requestComplete reports whether the loop has the whole request (Envoy's
// remote decode complete).
func (s *stream) requestComplete() bool { return s.reqBody == nil }

func isUpgrade(r *http.Request) bool {
	if r.Method == http.MethodConnect {
		return true
	}
	up := r.Header.Get("Upgrade")
	return up != "" && !strings.EqualFold(up, "h2c") && headerHasToken(r.Header, "Connection", "upgrade")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// begin mutates the request headers like Envoy's connection manager, picks
// the route for StreamInfo and starts decoding.
func (s *stream) begin() {
	h := requestHeaders(s.r)
	if s.l.cfg.HCM.GenerateRequestID {
		if v, ok := h.Get("x-request-id"); !ok || v == "" {
			h.Set("x-request-id", s.l.srv.newRequestID())
		}
	}
	if _, ok := h.Get("x-forwarded-proto"); !ok {
		h.Add("x-forwarded-proto", "http")
	}
	s.reqHeaders = h
	s.selectRoute(h)
	hasBody := s.r.Body != nil && s.r.Body != http.NoBody
	for k := range s.r.Trailer {
		s.trailerKeys = append(s.trailerKeys, k)
	}
	if hasBody {
		if s.r.ProtoMajor == 1 {
			_ = s.rc.EnableFullDuplex() // stream the response while the request body still arrives
		}
		s.reqBody = make(chan bodyEvent)
		s.readerExited = make(chan struct{})
		go s.readRequestBody()
	}
	s.dec.startHeaders(h, !hasBody)
}

// selectRoute (re)computes the route; the router calls it again after the
// filters, as Envoy clears the route cache when a filter changes headers.
func (s *stream) selectRoute(h *httpfilter.Headers) *Route {
	vh, r := s.l.routes.match(h)
	s.route = r
	s.info.VirtualHostName, s.info.RouteName, s.info.ClusterName = "", "", ""
	if vh != nil {
		s.info.VirtualHostName = vh.Name
	}
	if r != nil {
		s.info.RouteName, s.info.ClusterName = r.Name, r.Cluster
	}
	return r
}

func (s *stream) flag(f string) {
	for _, have := range s.flags {
		if have == f {
			return
		}
	}
	s.flags = append(s.flags, f)
}

// doReset ends the stream abruptly; the handler then aborts the connection
// (HTTP/1) or resets the stream (HTTP/2).
func (s *stream) doReset() {
	if s.complete || s.reset {
		return
	}
	s.reset = true
	s.dec.halted, s.enc.halted = true, true
	s.router.cancel()
}

// bufferOverflow answers a body over the buffer limit: 413 for a request,
// 500 for a response (a reset once the response has started).
func (s *stream) bufferOverflow(encoding bool) {
	if encoding {
		s.localReply(http.StatusInternalServerError, []byte("Internal Server Error"), nil, "response_payload_too_large")
		return
	}
	s.l.stats.rqTooLarge.Add(1)
	s.localReply(http.StatusRequestEntityTooLarge, []byte("Payload Too Large"), nil, "request_payload_too_large")
}

// finish runs the access-log phase and destroys the filters.
func (s *stream) finish() {
	if !s.complete {
		s.reset = true
	}
	s.router.finish()
	if s.timeout != nil {
		s.timeout.Stop()
	}
	for _, f := range s.filters {
		f.Log()
	}
	for _, f := range s.filters {
		f.Destroy()
	}
	if s.responseStarted {
		s.l.stats.rqClass.inc(s.info.ResponseCode)
	}
	if s.l.cfg.HCM.AccessLog {
		s.accessLog()
	}
}

// ctx is the context upstream requests of this stream derive from.
func (s *stream) ctx() context.Context { return s.r.Context() }
