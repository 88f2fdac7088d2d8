package envoy

import (
	"io"
	"time"
)

// readRequestBody feeds the downstream request body to the loop, chunk by
// chunk, from its own goroutine. The last bytes and the end go together
// when the body's Read returns them together (a body with a
// content-length does).
func (s *stream) readRequestBody() {
	defer close(s.readerExited)
	pool := &s.l.srv.chunks
	for {
		buf, data, err := pool.read(stoppableBody{s})
		ev := bodyEvent{buf: buf, data: data, end: err == io.EOF}
		if err != nil && !ev.end {
			if buf != nil && !s.sendBody(ev) {
				return
			}
			ev = bodyEvent{err: err}
		}
		if !s.sendBody(ev) || err != nil {
			return
		}
	}
}

// stoppableBody reads the request body unless stopBodyReader ran.
type stoppableBody struct{ s *stream }

func (b stoppableBody) Read(p []byte) (int, error) { return b.s.readBody(p) }

// sendBody hands ev to the loop, which then owns its buffer; the buffer
// goes back to the pool if the stream no longer takes body events.
func (s *stream) sendBody(ev bodyEvent) bool {
	select {
	case s.reqBody <- ev:
		return true
	case <-s.readerDone:
		s.l.srv.chunks.put(ev.buf)
		return false
	}
}

// loop handles events until the response is complete or the stream reset.
// Like Envoy's event loop, it writes to the downstream as data comes and
// flushes once no event is ready, so a burst of chunks costs one flush.
func (s *stream) loop() {
	for {
		s.runActions()
		if s.complete || s.reset {
			return
		}
		if s.needFlush {
			if s.nextEvent(false) {
				continue
			}
			s.needFlush = false
			encodeSink{s}.flush()
			continue
		}
		s.nextEvent(true)
	}
}

// nextEvent handles one event; without block it returns false at once when
// none is ready.
func (s *stream) nextEvent(block bool) bool {
	var body chan bodyEvent
	if !s.dec.halted && s.dec.heldBytes() <= s.dec.limit && !s.router.backpressured() {
		body = s.reqBody
	}
	var upEvents chan upstreamEvent
	if s.up != nil && s.enc.heldBytes() <= s.enc.limit {
		upEvents = s.up.events
	}
	var timeout <-chan time.Time
	if s.timeout != nil {
		timeout = s.timeout.C
	}
	done := s.r.Context().Done()
	if !block {
		select {
		case ev := <-body:
			s.onRequestBody(ev)
		case ev := <-upEvents:
			s.onUpstream(ev)
		case <-timeout:
			s.onTimeout()
		case <-s.wake:
		case <-done:
			s.onDownstreamGone()
		default:
			return false
		}
		return true
	}
	select {
	case ev := <-body:
		s.onRequestBody(ev)
	case ev := <-upEvents:
		s.onUpstream(ev)
	case <-timeout:
		s.onTimeout()
	case <-s.wake:
	case <-done:
		s.onDownstreamGone()
	}
	return true
}

func (s *stream) onUpstream(ev upstreamEvent) {
	s.router.onUpstream(ev)
	s.l.srv.chunks.put(ev.buf)
}

func (s *stream) onTimeout() {
	s.timeout = nil
	s.router.onTimeout()
}

func (s *stream) onDownstreamGone() {
	s.flag("DC")
	s.doReset()
}

func (s *stream) onRequestBody(ev bodyEvent) {
	defer s.l.srv.chunks.put(ev.buf)
	if ev.err != nil {
		s.flag("DC")
		s.doReset()
		return
	}
	if len(ev.data) > 0 {
		s.info.BytesReceived += int64(len(ev.data))
		// The filters see the last bytes, then the end, as from Envoy's
		// HTTP/1 codec.
		s.dec.runData(0, ev.data, false)
		if !ev.end || s.dec.halted {
			return
		}
	}
	s.reqBody = nil
	if t := trailerHeaders(s.r.Trailer); t != nil {
		s.reqTrailers = t
		s.dec.runTrailers(0, t)
	} else {
		s.dec.runData(0, nil, true)
	}
}
