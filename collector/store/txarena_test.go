package store

import (
	"bytes"
	"testing"
)

// Slices taken in one transaction never overlap, keep their contents when
// the arena grows, and do not grow into each other on append.
func TestTxArenaSlicesAreIndependent(t *testing.T) {
	var a txArena
	var got [][]byte
	for i := range 200 {
		s := a.take(1000 + i)
		for j := range s {
			s[j] = byte(i)
		}
		got = append(got, s)
	}
	for i, s := range got {
		if len(s) != 1000+i || cap(s) != len(s) {
			t.Fatalf("slice %d: len %d cap %d, want %d", i, len(s), cap(s), 1000+i)
		}
		if !bytes.Equal(s, bytes.Repeat([]byte{byte(i)}, len(s))) {
			t.Fatalf("slice %d was overwritten", i)
		}
	}
	grown := append(got[0], 0xee) // past its capacity: a copy, not the next slice
	if got[1][0] != 1 || len(grown) != 1001 {
		t.Error("appending to a taken slice wrote into the next one")
	}
}

func TestTxArenaReuseAndBound(t *testing.T) {
	var a txArena
	first := a.take(100)
	a.reset()
	if second := a.take(100); &second[0] != &first[0] {
		t.Error("the buffer was not reused after reset")
	}
	a.reset()
	a.take(maxArenaKeep + 1)
	a.reset()
	if a.buf != nil {
		t.Errorf("kept a %d-byte buffer, the bound is %d", cap(a.buf), maxArenaKeep)
	}
}
