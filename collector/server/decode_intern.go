package server

import "hash/maphash"

// Bounds of an interner: the strings worth sharing (header names, workload
// fields, methods, content types) are few and short, and a batch that
// sends more, or longer ones, gets plain copies instead of a bigger table.
const (
	internSlots  = 128 // a power of two
	internMax    = 96  // strings kept, under the slots so probes stay short
	internMaxLen = 64  // bytes
	internProbes = 8   // slots looked at before giving up on a string
)

// interner shares one immutable copy of each small string it is asked for
// again. It holds at most internMax strings of at most internMaxLen bytes
// in a fixed table: it never grows, and when a string does not fit (too
// long, table full, its probe run taken) the caller copies it instead.
// The zero value is ready to use; it is not safe for concurrent use.
type interner struct {
	seed   maphash.Seed
	seeded bool
	n      int
	slots  [internSlots]string // "" is an empty slot
}

// intern returns the shared copy of b, adding it when there is room, and
// false when b is not kept.
func (t *interner) intern(b []byte) (string, bool) {
	if len(b) == 0 {
		return "", true
	}
	if len(b) > internMaxLen {
		return "", false
	}
	if !t.seeded {
		// A random seed per table: input cannot be chosen to collide.
		t.seed, t.seeded = maphash.MakeSeed(), true
	}
	h := maphash.Bytes(t.seed, b)
	for p := range uint64(internProbes) {
		slot := &t.slots[(h+p)&(internSlots-1)]
		switch {
		case *slot == "":
			if t.n >= internMax {
				return "", false
			}
			*slot = string(b)
			t.n++
			return *slot, true
		case *slot == string(b):
			return *slot, true
		}
	}
	return "", false
}
