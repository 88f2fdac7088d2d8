package envoy

import (
	"io"
	"time"
)

// readRequestBody feeds the downstream request body to the loop, chunk by
// chunk, from its own goroutine.
func (s *stream) readRequestBody() {
	defer close(s.readerExited)
	err := s.l.srv.readChunks(stoppableBody{s}, func(b []byte) bool { return s.sendBody(bodyEvent{data: b}) })
	switch {
	case err == io.EOF:
		s.sendBody(bodyEvent{end: true})
	case err != nil:
		s.sendBody(bodyEvent{err: err})
	}
}

// stoppableBody reads the request body unless stopBodyReader ran.
type stoppableBody struct{ s *stream }

func (b stoppableBody) Read(p []byte) (int, error) { return b.s.readBody(p) }

func (s *stream) sendBody(ev bodyEvent) bool {
	select {
	case s.reqBody <- ev:
		return true
	case <-s.readerDone:
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
			s.router.onUpstream(ev)
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
		s.router.onUpstream(ev)
	case <-timeout:
		s.onTimeout()
	case <-s.wake:
	case <-done:
		s.onDownstreamGone()
	}
	return true
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
	switch {
	case ev.err != nil:
		s.flag("DC")
		s.doReset()
	case ev.end:
		s.reqBody = nil
		if t := trailerHeaders(s.r.Trailer); t != nil {
			s.reqTrailers = t
			s.dec.runTrailers(0, t)
		} else {
			s.dec.runData(0, nil, true)
		}
	default:
		s.info.BytesReceived += int64(len(ev.data))
		s.dec.runData(0, ev.data, false)
	}
}
