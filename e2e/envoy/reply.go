package envoy

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// localReply answers the downstream without (more of) the upstream, like
// Envoy's sendLocalReply: through the encoder filters when none has run
// yet, directly otherwise, and as a reset once the response has started.
func (s *stream) localReply(status int, body []byte, extra *httpfilter.Headers, details string) {
	if s.complete || s.reset {
		return
	}
	if s.responseStarted {
		s.doReset()
		return
	}
	s.dec.halted = true
	s.router.cancel()
	if s.localReplying || s.enc.touched {
		s.enc.halted = true
		s.directReply(status, body, extra, details)
		return
	}
	s.localReplying = true
	s.info.ResponseCodeDetails = details
	h := localReplyHeaders(status, body, extra)
	s.respHeaders = h
	s.enc.startHeaders(h, len(body) == 0)
	if len(body) > 0 && !s.enc.halted {
		s.enc.runData(0, body, true)
	}
}

func localReplyHeaders(status int, body []byte, extra *httpfilter.Headers) *httpfilter.Headers {
	h := &httpfilter.Headers{}
	h.Add(":status", strconv.Itoa(status))
	if extra != nil {
		for _, f := range extra.Fields {
			if f.Name != ":status" {
				h.Add(f.Name, f.Value)
			}
		}
	}
	if len(body) > 0 {
		if _, ok := h.Get("content-type"); !ok {
			h.Add("content-type", "text/plain")
		}
	}
	h.Set("content-length", strconv.Itoa(len(body)))
	return h
}

// directReply writes a reply straight to the downstream, bypassing filters.
func (s *stream) directReply(status int, body []byte, extra *httpfilter.Headers, details string) {
	if s.responseStarted {
		s.doReset()
		return
	}
	s.info.ResponseCodeDetails = details
	h := localReplyHeaders(status, body, extra)
	s.respHeaders = h
	es := encodeSink{s}
	es.headers(h, len(body) == 0)
	if len(body) > 0 {
		es.data(body, true)
	}
}

// encodeSink writes what passed the encoder filters to the downstream.
type encodeSink struct{ s *stream }

func (e encodeSink) headers(h *httpfilter.Headers, end bool) {
	s := e.s
	if s.complete || s.reset {
		return
	}
	status := statusOf(h)
	hdr := s.w.Header()
	addHTTPFields(hdr, h)
	if _, ok := hdr["Content-Type"]; !ok {
		hdr["Content-Type"] = nil // no content sniffing: Envoy adds nothing
	}
	hdr.Set("Server", "envoy") // Envoy's server_header_transformation OVERWRITE
	if !s.requestComplete() {
		s.l.stats.rqResponseBeforeComplete.Add(1)
		if s.r.ProtoMajor == 1 {
			// Envoy closes an HTTP/1 connection whose response starts
			// before the request is complete rather than wait for the rest.
			hdr.Set("Connection", "close")
		}
	}
	s.w.WriteHeader(status)
	s.responseStarted = true
	s.info.ResponseCode = status
	if s.info.ResponseCodeDetails == "" {
		s.info.ResponseCodeDetails = "via_upstream"
	}
	if end {
		s.complete = true
		return
	}
	s.needFlush = true
}

func (e encodeSink) data(b []byte, end bool) {
	s := e.s
	if s.complete || s.reset {
		return
	}
	if len(b) > 0 {
		n, err := s.w.Write(b)
		s.info.BytesSent += int64(n)
		if err != nil && !errors.Is(err, http.ErrBodyNotAllowed) {
			s.flag("DC")
			s.doReset()
			return
		}
	}
	if end {
		s.complete = true
		return
	}
	s.needFlush = true
}

func (e encodeSink) trailers(t *httpfilter.Headers) {
	s := e.s
	if s.complete || s.reset {
		return
	}
	s.respTrailers = t
	if s.needFlush && s.r.ProtoMajor == 1 {
		// Trailers need a chunked body: send what was written so far now,
		// or net/http could answer with a content-length and drop them.
		e.flush()
		if s.reset {
			return
		}
	}
	hdr := s.w.Header()
	for k, v := range httpHeader(t) {
		hdr[http.TrailerPrefix+k] = v
	}
	s.complete = true
}

func (e encodeSink) flush() {
	if err := e.s.rc.Flush(); err != nil {
		e.s.flag("DC")
		e.s.doReset()
	}
}

// decodeSink hands what passed the decoder filters to the router.
type decodeSink struct{ s *stream }

func (d decodeSink) headers(h *httpfilter.Headers, end bool) { d.s.router.headers(h, end) }
func (d decodeSink) data(b []byte, end bool)                 { d.s.router.data(b, end) }
func (d decodeSink) trailers(t *httpfilter.Headers)          { d.s.router.trailers(t) }
