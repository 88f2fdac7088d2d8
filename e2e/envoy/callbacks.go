package envoy

import (
	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

type actionKind int

const (
	actLocalReply actionKind = iota
	actReset
	actContinueDecoding
	actContinueEncoding
)

// action is a request a filter made through its Callbacks. Envoy defers
// them until the current callback returns; so does the stream.
type action struct {
	kind    actionKind
	filter  int
	status  int
	body    []byte
	headers *httpfilter.Headers
	details string
}

// callbacks are one filter's httpfilter.Callbacks. They may be called from
// any goroutine: they only queue an action for the stream's loop.
type callbacks struct {
	s     *stream
	index int
}

var _ httpfilter.Callbacks = (*callbacks)(nil)

func (c *callbacks) post(a action) {
	a.filter = c.index
	c.s.mu.Lock()
	c.s.actions = append(c.s.actions, a)
	c.s.mu.Unlock()
	c.s.notify()
}

// notify wakes the stream's loop.
func (s *stream) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (c *callbacks) SendLocalReply(status int, body []byte, headers *httpfilter.Headers, details string) {
	c.post(action{kind: actLocalReply, status: status, body: body, headers: headers, details: details})
}

func (c *callbacks) ContinueDecoding() { c.post(action{kind: actContinueDecoding}) }

func (c *callbacks) ContinueEncoding() { c.post(action{kind: actContinueEncoding}) }

func (c *callbacks) ResetStream() { c.post(action{kind: actReset}) }

func (c *callbacks) StreamInfo() *httpfilter.StreamInfo { return &c.s.info }

func (c *callbacks) RequestHeaders() *httpfilter.Headers { return c.s.reqHeaders }

func (c *callbacks) ResponseHeaders() *httpfilter.Headers { return c.s.respHeaders }

func (c *callbacks) ResponseTrailers() *httpfilter.Headers { return c.s.respTrailers }

func (s *stream) takeActions() []action {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.actions
	s.actions = nil
	return a
}

// afterCallback applies the local replies and resets a filter requested
// during the callback that just returned; continues wait for the loop.
func (s *stream) afterCallback() {
	s.mu.Lock()
	var urgent []action
	kept := s.actions[:0]
	for _, a := range s.actions {
		if a.kind == actLocalReply || a.kind == actReset {
			urgent = append(urgent, a)
		} else {
			kept = append(kept, a)
		}
	}
	s.actions = kept
	s.mu.Unlock()
	for _, a := range urgent {
		s.apply(a)
	}
}

// runActions applies queued actions, including those queued while
// applying, until none is left.
func (s *stream) runActions() {
	for {
		as := s.takeActions()
		if len(as) == 0 {
			return
		}
		for _, a := range as {
			s.apply(a)
		}
	}
}

func (s *stream) apply(a action) {
	if s.complete || s.reset {
		return
	}
	switch a.kind {
	case actLocalReply:
		s.localReply(a.status, a.body, a.headers, a.details)
	case actReset:
		s.flag("LR")
		s.doReset()
	case actContinueDecoding:
		s.dec.resume(s.dec.position(a.filter))
	case actContinueEncoding:
		s.enc.resume(s.enc.position(a.filter))
	}
}
