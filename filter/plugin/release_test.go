package plugin

import "testing"

func TestReleaseKeepsSmallBuffersAndDropsLargeOnes(t *testing.T) {
	r := &Root{}
	s := &Stream{root: r, body: make([]byte, 10, 1<<20), kept: make([]byte, 5, 512), active: true}
	s.Release()
	if len(r.free) != 1 || r.free[0] != s {
		t.Fatalf("released stream not pooled: %d free", len(r.free))
	}
	if s.body != nil {
		t.Errorf("a 1 MiB body buffer stayed pooled (cap %d)", cap(s.body))
	}
	if cap(s.kept) != 512 || len(s.kept) != 0 {
		t.Errorf("small string buffer: len %d cap %d, want 0 and 512", len(s.kept), cap(s.kept))
	}
	if s.active || s.root != r {
		t.Error("state not reset for reuse")
	}
	if got := r.NewStream(); got != s {
		t.Error("NewStream does not reuse the released stream")
	}
}
