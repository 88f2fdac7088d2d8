package engine

import (
	"strconv"
	"testing"
	"unsafe"
)

// Responses whose keys vary (ids as keys) give every digest its own path
// list: what the interner remembers of them must stay bounded.
func TestInternerPathListsStayBounded(t *testing.T) {
	in := newInterner(newPathTable())
	for i := range maxInterned + 5000 {
		fields := []flatEntry{{path: "items." + strconv.Itoa(i)}, {path: "items." + strconv.Itoa(i) + ".price"}}
		in.paths(fields)
		if in.lastPaths > maxInterned {
			t.Fatalf("after %d digests the remembered lists hold %d paths, over %d", i+1, in.lastPaths, maxInterned)
		}
	}
	held := 0
	for _, l := range in.last {
		held += len(l)
	}
	if held > maxInterned || held != in.lastPaths {
		t.Errorf("lists hold %d paths, counted %d (bound %d)", held, in.lastPaths, maxInterned)
	}
	if in.tbl.len() > maxInterned {
		t.Errorf("%d interned strings, over %d", in.tbl.len(), maxInterned)
	}
}

func TestInternerSharesRepeatedPathLists(t *testing.T) {
	in := newInterner(newPathTable())
	a := []flatEntry{{path: "user.id"}, {path: "user.name"}}
	b := []flatEntry{{path: "user.id"}, {path: "user.name"}}
	in.paths(a)
	in.paths(b)
	for i := range a {
		if unsafe.StringData(a[i].path) != unsafe.StringData(b[i].path) {
			t.Errorf("path %q not shared between two digests of the same shape", a[i].path)
		}
	}
}

func (t *pathTable) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

// A path the table holds is found by its bytes without allocating.
func TestPathTableLookupDoesNotAllocate(t *testing.T) {
	tbl := newPathTable()
	b := []byte("order.items[].price")
	tbl.lookup(b)
	if n := testing.AllocsPerRun(100, func() { tbl.lookup(b) }); n != 0 {
		t.Errorf("lookup of a held path: %v allocations", n)
	}
}
