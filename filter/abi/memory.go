//go:build wasip1

package abi

// Memory the host fills during a callback (headers, body chunks, properties)
// comes from an arena that is rewound when the outermost callback returns.
// The plugin reads or copies what it needs before then (plugin.Host's
// contract), so steady traffic allocates nothing here: under Go→wasm a heap
// allocation costs ~0.4 µs, 15× native. A block the arena cannot hold comes
// from the Go heap and stays referenced until its binding takes it, so the
// collector cannot free it in between; the arena grows at the next rewind to
// what the callback wanted, up to maxArena.
const (
	initialArena = 64 << 10
	maxArena     = 1 << 20
	arenaAlign   = 8
)

var (
	arena       = make([]byte, initialArena)
	arenaUsed   int
	arenaWanted int
	// depth is the nesting of callbacks: the host may call back into the
	// guest from a host function, and the arena must outlive the outermost.
	depth       int
	allocations = map[uint32][]byte{}
)

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) uint32 {
	n := max(int(size), 1)
	if end := arenaUsed + n; end <= len(arena) {
		addr := addressOf(arena[arenaUsed:])
		arenaUsed = (end + arenaAlign - 1) &^ (arenaAlign - 1)
		return addr
	}
	arenaWanted = max(arenaWanted, arenaUsed+n)
	buf := make([]byte, n)
	addr := addressOf(buf)
	allocations[addr] = buf
	return addr
}

// take returns the host-filled block at addr. A block from the arena is
// valid until the callback returns; one from the heap is released to Go.
func take(addr, size uint32) []byte {
	if addr == 0 || size == 0 {
		return nil
	}
	if base := addressOf(arena); addr >= base && addr-base < uint32(arenaUsed) {
		off := int(addr - base)
		end := min(off+int(size), arenaUsed)
		return arena[off:end:end]
	}
	buf, ok := allocations[addr]
	if !ok {
		return nil
	}
	delete(allocations, addr)
	return buf[:min(size, uint32(len(buf)))]
}

// enter and leave bracket every callback; leaving the outermost one rewinds
// the arena (and grows it if the callback outgrew it).
func enter() { depth++ }

func leave() {
	if depth--; depth > 0 {
		return
	}
	arenaUsed = 0
	if arenaWanted > len(arena) && arenaWanted <= maxArena {
		arena = make([]byte, min(maxArena, 2*arenaWanted))
	}
	arenaWanted = 0
}
