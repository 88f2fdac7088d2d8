package envoy

import (
	"io"
	"sync"
)

// chunkPool recycles the chunkSize buffers that bodies are read into.
//
// A chunk goes from its reader's goroutine to the stream's loop together
// with its buffer. The loop lends the bytes to the filters and the router
// for the time of the call (whoever keeps them, a filter's buffer or an
// upstream request body, copies them) and puts the buffer back.
type chunkPool struct{ pool sync.Pool }

func (p *chunkPool) get() *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, chunkSize)
	return &b
}

// put returns a buffer from get or read; nil is ignored.
func (p *chunkPool) put(b *[]byte) {
	if b != nil {
		p.pool.Put(b)
	}
}

// read reads the next chunk of r into a pooled buffer. It returns the
// buffer (nil when nothing was read), the bytes read (their capacity ends
// with them, so an append never writes into the rest of the buffer) and
// the read's error: the last bytes of r may come with io.EOF.
func (p *chunkPool) read(r io.Reader) (*[]byte, []byte, error) {
	buf := p.get()
	for {
		n, err := r.Read(*buf)
		if n > 0 {
			return buf, (*buf)[:n:n], err
		}
		if err != nil {
			p.put(buf)
			return nil, nil, err
		}
	}
}
