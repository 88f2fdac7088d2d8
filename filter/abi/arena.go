package abi

import "unsafe"

// arena holds the memory the host fills during callbacks (headers, body
// chunks, properties). Blocks come from one buffer that is rewound when the
// outermost callback returns: the plugin reads or copies what it needs
// before then (plugin.Host's contract), so steady traffic allocates nothing
// here, where under Go→wasm a heap allocation costs ~0.4 µs, 15× native. A
// block the buffer cannot hold comes from the Go heap and stays referenced
// until its binding takes it, so the collector cannot free it in between;
// the buffer grows at the next rewind to what the callback wanted, up to
// max.
type arena struct {
	buf    []byte
	used   int
	wanted int
	max    int
	// depth is the nesting of callbacks: the host may call back into the
	// guest from a host function, and blocks must outlive the outermost.
	depth int
	heap  map[uintptr][]byte
}

const arenaAlign = 8

func newArena(initial, max int) *arena {
	return &arena{buf: make([]byte, initial), max: max, heap: map[uintptr][]byte{}}
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// alloc returns the address of size fresh bytes (at least one).
func (a *arena) alloc(size uint32) uintptr {
	n := max(int(size), 1)
	if end := a.used + n; end <= len(a.buf) {
		p := addr(a.buf[a.used:])
		a.used = (end + arenaAlign - 1) &^ (arenaAlign - 1)
		return p
	}
	a.wanted = max(a.wanted, a.used+n)
	b := make([]byte, n)
	p := addr(b)
	a.heap[p] = b
	return p
}

// take returns the block at p, size bytes long. A block from the buffer is
// valid until the outermost callback returns; one from the heap is released
// to Go.
func (a *arena) take(p uintptr, size uint32) []byte {
	if p == 0 || size == 0 {
		return nil
	}
	if base := addr(a.buf); p >= base && p-base < uintptr(a.used) {
		off := int(p - base)
		end := min(off+int(size), a.used, len(a.buf))
		return a.buf[off:end:end]
	}
	b, ok := a.heap[p]
	if !ok {
		return nil
	}
	delete(a.heap, p)
	return b[:min(int(size), len(b))]
}

// enter and leave bracket every callback; leaving the outermost one rewinds
// the buffer, and grows it if the callback outgrew it.
func (a *arena) enter() { a.depth++ }

func (a *arena) leave() {
	if a.depth--; a.depth > 0 {
		return
	}
	a.used = 0
	if a.wanted > len(a.buf) && a.wanted <= a.max {
		a.buf = make([]byte, min(a.max, 2*a.wanted)&^(arenaAlign-1))
	}
	a.wanted = 0
}
