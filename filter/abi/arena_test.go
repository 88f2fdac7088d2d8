package abi

import (
	"bytes"
	"testing"
)

// fill writes what a host would into the block at p.
func fill(a *arena, p uintptr, data []byte) {
	if b, ok := a.heap[p]; ok {
		copy(b, data)
		return
	}
	copy(a.buf[p-addr(a.buf):], data)
}

func TestArenaBlocksLiveUntilTheOutermostCallbackReturns(t *testing.T) {
	a := newArena(64, 1024)
	a.enter()
	p := a.alloc(5)
	fill(a, p, []byte("hello"))
	a.enter() // a nested callback (the host calling back into the guest)
	q := a.alloc(3)
	fill(a, q, []byte("abc"))
	a.leave()
	if got := a.take(p, 5); string(got) != "hello" {
		t.Fatalf("first block after a nested callback: %q", got)
	}
	if got := a.take(q, 3); string(got) != "abc" {
		t.Fatalf("nested block: %q", got)
	}
	if p%arenaAlign != 0 || q%arenaAlign != 0 {
		t.Errorf("blocks not %d-aligned: %#x %#x", arenaAlign, p, q)
	}
	a.leave()
	if a.used != 0 {
		t.Errorf("not rewound: %d bytes in use", a.used)
	}
	a.enter()
	if r := a.alloc(5); r != p {
		t.Errorf("the next callback does not reuse the buffer: %#x, want %#x", r, p)
	}
	a.leave()
}

func TestArenaTakeCannotReachPastTheBlock(t *testing.T) {
	a := newArena(64, 1024)
	a.enter()
	defer a.leave()
	p := a.alloc(4)
	fill(a, p, []byte("abcd"))
	got := a.take(p, 4)
	if cap(got) != 4 {
		t.Errorf("cap %d: an append would write into the next block", cap(got))
	}
	if got := a.take(p, 100); len(got) > a.used {
		t.Errorf("a size past the used part returned %d bytes", len(got))
	}
	if a.take(0, 4) != nil || a.take(p, 0) != nil {
		t.Error("the empty value (ptr 0 or size 0) is not nil")
	}
}

func TestArenaOverflowGoesToTheHeapThenTheBufferGrows(t *testing.T) {
	a := newArena(64, 1024)
	a.enter()
	big := bytes.Repeat([]byte("x"), 200)
	p := a.alloc(uint32(len(big)))
	fill(a, p, big)
	if base := addr(a.buf); p >= base && p < base+uintptr(len(a.buf)) {
		t.Fatal("a block larger than the buffer came from the buffer")
	}
	if got := a.take(p, uint32(len(big))); !bytes.Equal(got, big) {
		t.Fatalf("heap block: %q", got)
	}
	if len(a.heap) != 0 {
		t.Errorf("%d heap blocks still held after take", len(a.heap))
	}
	a.leave()
	if len(a.buf) < 200 {
		t.Errorf("buffer %d bytes after a callback wanted 200", len(a.buf))
	}

	a.enter()
	huge := a.alloc(4096) // over max: the heap every time, the buffer stays
	a.take(huge, 4096)
	a.leave()
	if len(a.buf) > 1024 {
		t.Errorf("buffer grew to %d, over its max", len(a.buf))
	}
}
