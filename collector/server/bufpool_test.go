package server

import "testing"

func TestDirtyPoolLengths(t *testing.T) {
	var p dirtyPool
	for _, n := range []int{0, 1, 255, 256, 257, 16 << 10, 16<<10 + 9, 1 << 20, 1<<20 + 1} {
		b := p.Get(n)
		if len(*b) != n {
			t.Errorf("Get(%d): length %d", n, len(*b))
		}
		p.Put(b)
		if b := p.Get(n); len(*b) != n {
			t.Errorf("Get(%d) after Put: length %d", n, len(*b))
		}
	}
}

// A buffer put back serves a later Get up to its tier's length, not
// cleared, and never one longer than its capacity.
func TestDirtyPoolReuses(t *testing.T) {
	var p dirtyPool
	b := p.Get(3000) // the 4 KiB tier
	(*b)[0] = 7
	p.Put(b)
	got := p.Get(4096)
	if &(*got)[0] != &(*b)[0] {
		t.Skip("sync.Pool dropped the buffer (a GC ran)")
	}
	if len(*got) != 4096 || (*got)[0] != 7 {
		t.Errorf("reused buffer: length %d, first byte %d; want 4096 and 7", len(*got), (*got)[0])
	}
	odd := make([]byte, 0, 6000) // not a power of two: the 4 KiB tier
	p.Put(&odd)
	if got := p.Get(4097); cap(*got) < 4097 {
		t.Errorf("Get(4097) returned capacity %d", cap(*got))
	}
}
