package envoy

import (
	"bytes"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// stopKind says where a filter stopped iteration.
type stopKind int

const (
	notStopped stopKind = iota
	// stoppedHeaders: StopIteration from a headers callback (Envoy's
	// StopAllIterationAndWatermark): data and trailers are held for the
	// filter itself until it continues.
	stoppedHeaders
	// stoppedData: the filter stopped on the last data chunk and holds the
	// end of the stream until it continues.
	stoppedData
	// stoppedTrailers: StopIteration from a trailers callback.
	stoppedTrailers
)

// filterState is one filter's iteration state in one direction.
type filterState struct {
	stop stopKind
	// buffering: the filter answered StopAndBuffer; new data is appended to
	// buf and the filter is called again with the whole buffer.
	buffering bool
	buf       []byte
	end       bool                // the end of stream is held here
	trailers  *httpfilter.Headers // trailers held here
}

// sink is where a direction's iteration ends: the router (decoding) or the
// downstream connection (encoding).
type sink interface {
	headers(h *httpfilter.Headers, end bool)
	data(b []byte, end bool)
	trailers(t *httpfilter.Headers)
}

// direction runs one direction of a stream's filter chain with Envoy's
// iteration rules: decoding in configuration order, encoding in reverse.
type direction struct {
	s      *stream
	encode bool
	st     []filterState
	sink   sink
	limit  int
	// halted: a local reply or a reset ended this direction.
	halted  bool
	touched bool // a filter callback of this direction has run
	headers *httpfilter.Headers
	hdrEnd  bool
}

func (d *direction) filter(p int) httpfilter.Filter {
	if d.encode {
		return d.s.filters[len(d.s.filters)-1-p]
	}
	return d.s.filters[p]
}

// position converts a filter index to this direction's iteration position.
func (d *direction) position(filterIndex int) int {
	if d.encode {
		return len(d.st) - 1 - filterIndex
	}
	return filterIndex
}

func (d *direction) callHeaders(p int, h *httpfilter.Headers, end bool) httpfilter.Status {
	d.touched = true
	var st httpfilter.Status
	if d.encode {
		st = d.filter(p).EncodeHeaders(h, end)
	} else {
		st = d.filter(p).DecodeHeaders(h, end)
	}
	d.s.afterCallback()
	return st
}

func (d *direction) callData(p int, b *httpfilter.Buffer, end bool) httpfilter.Status {
	d.touched = true
	var st httpfilter.Status
	if d.encode {
		st = d.filter(p).EncodeData(b, end)
	} else {
		st = d.filter(p).DecodeData(b, end)
	}
	d.s.afterCallback()
	return st
}

func (d *direction) callTrailers(p int, t *httpfilter.Headers) httpfilter.Status {
	d.touched = true
	var st httpfilter.Status
	if d.encode {
		st = d.filter(p).EncodeTrailers(t)
	} else {
		st = d.filter(p).DecodeTrailers(t)
	}
	d.s.afterCallback()
	return st
}

// startHeaders begins the direction with its headers.
func (d *direction) startHeaders(h *httpfilter.Headers, end bool) {
	d.headers, d.hdrEnd = h, end
	d.runHeaders(0)
}

func (d *direction) runHeaders(from int) {
	for p := from; p < len(d.st); p++ {
		st := d.callHeaders(p, d.headers, d.hdrEnd)
		if d.halted {
			return
		}
		if st != httpfilter.Continue {
			d.st[p].stop = stoppedHeaders
			return
		}
	}
	d.sink.headers(d.headers, d.hdrEnd)
}

// runData passes a chunk from position from on.
func (d *direction) runData(from int, data []byte, end bool) {
	for p := from; p < len(d.st); p++ {
		fs := &d.st[p]
		if fs.stop != notStopped {
			fs.buf = append(fs.buf, data...)
			fs.end = fs.end || end
			return
		}
		b := &httpfilter.Buffer{Data: data}
		if fs.buffering {
			fs.buf = append(fs.buf, data...)
			b.Data = fs.buf
		}
		st := d.callData(p, b, end)
		if d.halted {
			return
		}
		switch st {
		case httpfilter.Continue:
			data = b.Data
			fs.buf, fs.buffering = nil, false
		case httpfilter.StopAndBuffer:
			if fs.buffering {
				fs.buf = b.Data // fs.buf, or what the filter made of it
			} else {
				// data is lent for this call; the filter's buffer must
				// not keep pointing at it either (the host may read it later).
				fs.buf = bytes.Clone(b.Data)
				b.Data = fs.buf
			}
			fs.buffering = true
			if len(fs.buf) > d.limit {
				d.s.bufferOverflow(d.encode)
				return
			}
			if end {
				fs.stop, fs.end = stoppedData, true
			}
			return
		default: // StopNoBuffer (and StopIteration, which Envoy treats alike for data)
			if fs.buffering {
				fs.buf = b.Data
			} else {
				b.Data = bytes.Clone(b.Data) // the lent chunk goes back to its pool
			}
			if end {
				fs.stop, fs.end = stoppedData, true
			}
			return
		}
	}
	if len(data) > 0 || end {
		d.sink.data(data, end)
	}
}

// runTrailers passes trailers from position from on; data a buffering
// filter holds goes on before them.
func (d *direction) runTrailers(from int, t *httpfilter.Headers) {
	for p := from; p < len(d.st); p++ {
		fs := &d.st[p]
		if fs.stop != notStopped {
			fs.trailers = t
			return
		}
		st := d.callTrailers(p, t)
		if d.halted {
			return
		}
		if st != httpfilter.Continue {
			fs.stop, fs.trailers = stoppedTrailers, t
			return
		}
		if fs.buffering {
			held := fs.buf
			fs.buf, fs.buffering = nil, false
			if len(held) > 0 {
				d.runData(p+1, held, false)
				if d.halted {
					return
				}
			}
		}
	}
	d.sink.trailers(t)
}

// resume continues iteration after the filter at position p stopped
// (ContinueDecoding / ContinueEncoding). It is a no-op if p is not stopped.
func (d *direction) resume(p int) {
	if d.halted || p < 0 || p >= len(d.st) {
		return
	}
	fs := &d.st[p]
	kind := fs.stop
	held, end, trailers := fs.buf, fs.end, fs.trailers
	switch kind {
	case notStopped:
		if !fs.buffering || len(fs.buf) == 0 {
			return
		}
		// A buffering filter continues: what it buffered goes on.
		fs.buf, fs.buffering = nil, false
		d.runData(p+1, held, false)
		return
	case stoppedHeaders:
		*fs = filterState{}
		d.runHeaders(p + 1)
		if d.halted || d.hdrEnd {
			return
		}
		// Envoy's StopAll: the held data goes to the stopped filter itself.
		if len(held) > 0 || end && trailers == nil {
			d.runData(p, held, end && trailers == nil)
		}
		if trailers != nil && !d.halted {
			d.runTrailers(p, trailers)
		}
	case stoppedData, stoppedTrailers:
		*fs = filterState{}
		if len(held) > 0 || end {
			d.runData(p+1, held, end)
		}
		if trailers != nil && !d.halted {
			d.runTrailers(p+1, trailers)
		}
	}
}

// heldBytes is what filters stopped on headers hold, for flow control.
func (d *direction) heldBytes() int {
	n := 0
	for i := range d.st {
		if d.st[i].stop == stoppedHeaders {
			n += len(d.st[i].buf)
		}
	}
	return n
}
