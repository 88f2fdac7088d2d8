package store

// maxArenaKeep bounds the buffer a txArena keeps between transactions, so
// one burst does not hold its memory for good (the collector may run
// close to its memory limit): a group commit of sixteen 64-digest batches
// writes about 3 MiB of values.
const maxArenaKeep = 8 << 20

// txArena hands out the byte slices of one write transaction's values
// (pending segments, encoded records). bbolt keeps references to put
// values until the transaction ends, so a slice is valid until reset; the
// buffer is then reused by the next transaction instead of allocating
// every value anew. Guarded by the store's writeMu.
type txArena struct{ buf []byte }

// take returns n bytes (contents undefined) valid until reset.
func (a *txArena) take(n int) []byte {
	if cap(a.buf)-len(a.buf) < n {
		// Slices already handed out keep the old buffer alive until reset.
		a.buf = make([]byte, 0, max(2*cap(a.buf), n, 64<<10))
	}
	start := len(a.buf)
	a.buf = a.buf[:start+n]
	return a.buf[start : start+n : start+n]
}

// reset makes the buffer reusable; call once the transaction has ended.
func (a *txArena) reset() {
	if cap(a.buf) > maxArenaKeep {
		a.buf = nil
		return
	}
	a.buf = a.buf[:0]
}
