package server

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

func TestInternerShares(t *testing.T) {
	var in interner
	a, okA := in.intern([]byte("content-type"))
	b, okB := in.intern([]byte("content-type"))
	c, okC := in.intern([]byte("etag"))
	if !okA || !okB || !okC || a != "content-type" || c != "etag" {
		t.Fatalf("intern gave %q %v, %q %v, %q %v", a, okA, b, okB, c, okC)
	}
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("the same name interned twice is two strings")
	}
	if s, ok := in.intern(nil); !ok || s != "" || in.n != 2 {
		t.Errorf("empty string: %q %v, %d kept", s, ok, in.n)
	}
}

// The interner keeps at most internMax strings of at most internMaxLen
// bytes, and keeps returning those it has.
func TestInternerBounds(t *testing.T) {
	var in interner
	long := strings.Repeat("x", internMaxLen+1)
	if _, ok := in.intern([]byte(long)); ok || in.n != 0 {
		t.Errorf("a %d-byte string was kept", len(long))
	}
	if s, ok := in.intern([]byte(long[1:])); !ok || s != long[1:] {
		t.Errorf("a %d-byte string was not kept", internMaxLen)
	}
	kept := map[string]string{}
	for i := range 10 * internSlots {
		name := fmt.Sprintf("header-%d", i)
		if s, ok := in.intern([]byte(name)); ok {
			if s != name {
				t.Fatalf("intern(%q) = %q", name, s)
			}
			kept[name] = s
		}
		if in.n > internMax {
			t.Fatalf("%d strings kept, more than %d", in.n, internMax)
		}
	}
	if len(kept)+1 != in.n || in.n < internMax/2 {
		t.Errorf("%d of %d strings kept, table says %d", len(kept), 10*internSlots, in.n)
	}
	for name, s := range kept {
		again, ok := in.intern([]byte(name))
		if !ok || unsafe.StringData(again) != unsafe.StringData(s) {
			t.Errorf("%q kept but not returned again", name)
		}
	}
}
