package engine

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// A fieldSource reads what the generated decoder reads, for any encoding it
// accepts.
func FuzzWireFields(fz *testing.F) {
	raw := "7"
	d := dg("k", primary, "/x", 200, f{"a", tStr, sText, "x"}, f{"b", tArr, 0, "1,2"}, f{"c", tNum, sInt, "7"})
	d.Body.Fields[2].RawValue = &raw
	// And one that fails validation (an unknown type), so the check that
	// read's checked fields pass validateFlat starts from a case it must
	// catch.
	bad := dg("k", primary, "/x", 200, f{"a", tStr, sText, "x"}, f{"b", 99, sText, "y"})
	for _, d := range []*shadowdiffv1.ResponseDigest{d, dg("k", candidate, "/x", 200), {PairingKey: "k"}, bad} {
		wire, err := d.MarshalVT()
		if err != nil {
			fz.Fatal(err)
		}
		fz.Add(wire)
	}
	other, err := dg("k", primary, "/x", 200, f{"a", tStr, sText, "y"}, f{"c", tNum, sInt, "8"}).MarshalVT()
	if err != nil {
		fz.Fatal(err)
	}
	fz.Fuzz(func(t *testing.T, wire []byte) {
		var msg shadowdiffv1.ResponseDigest
		if msg.UnmarshalVT(wire) != nil {
			return
		}
		fs := msg.GetBody().GetFields()
		// Read after another digest, then again: the reader's cache of
		// the last paths must give the same answers as the table.
		src := newFieldSource(newPathTable())
		if _, _, err := src.read(other); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			got, checked, err := src.read(wire)
			if err != nil || len(got) != len(fs) {
				t.Fatalf("read = %d fields (%v), want %d", len(got), err, len(fs))
			}
			if err := validateFlat(got); checked && err != nil {
				t.Fatalf("read says the fields are checked, validateFlat says %v", err)
			}
			sameFields(t, got, fs)
			src.recycle(got)
		}
	})
}

// sameFields: got holds the entries of fs in flat form, sorted by path.
func sameFields(t *testing.T, got []flatEntry, fs []*shadowdiffv1.FieldEntry) {
	t.Helper()
	want := make([]flatEntry, len(fs))
	for i, e := range fs {
		want[i] = flatEntryOf(e)
	}
	slices.SortStableFunc(want, compareFlatPaths) // read sorts by path
	for i, w := range want {
		g := got[i]
		if g.path != w.path || g.valueHash != w.valueHash || g.unorderedHash != w.unorderedHash || g.typ != w.typ ||
			g.shape != w.shape || g.occurrences != w.occurrences || g.elements != w.elements || g.lengthBucket != w.lengthBucket ||
			(g.rawValue == nil) != (w.rawValue == nil) || (g.rawValue != nil && *g.rawValue != *w.rawValue) {
			t.Fatalf("field %d = %+v, want %+v", i, g, w)
		}
	}
}

// A reader that once read an outsized digest (more fields than the pool
// keeps) must not allocate that size again for every later digest.
func TestOutsizedDigestLeavesLaterReadsCheap(t *testing.T) {
	wireOf := func(n int) []byte {
		var fs []f
		for i := range n {
			fs = append(fs, f{fmt.Sprintf("f%05d", i), tStr, sText, "v"})
		}
		w, err := dg("k", primary, "/x", 200, fs...).MarshalVT()
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	s := newFieldSource(newPathTable())
	if _, _, err := s.read(wireOf(4 * maxPooledFields)); err != nil {
		t.Fatal(err)
	}
	empty := wireOf(0)
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := s.read(empty); err != nil {
			t.Fatal(err)
		}
	})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		s.read(empty)
	}
	runtime.ReadMemStats(&after)
	if perRead := (after.TotalAlloc - before.TotalAlloc) / 100; perRead > 4096 {
		t.Errorf("a digest without fields after an outsized one allocates %d bytes per read (%.0f allocations)", perRead, allocs)
	}
}

// read checks fields as validateFlat does when it says so, and leaves
// every invalid digest to it.
func TestReadChecksFieldsAsValidateFlat(t *testing.T) {
	long := strings.Repeat("x", maxRawValueLen+1)
	cases := []struct {
		name    string
		edit    func(d *shadowdiffv1.ResponseDigest)
		invalid bool
	}{
		{"valid", func(*shadowdiffv1.ResponseDigest) {}, false},
		{"path too long", func(d *shadowdiffv1.ResponseDigest) {
			d.Body.Fields[2].Path = "c" + strings.Repeat("x", maxFieldPathLen)
		}, true},
		{"path twice", func(d *shadowdiffv1.ResponseDigest) { d.Body.Fields[1].Path = "a" }, true},
		{"unknown type", func(d *shadowdiffv1.ResponseDigest) { d.Body.Fields[0].Type = 99 }, true},
		{"negative type", func(d *shadowdiffv1.ResponseDigest) { d.Body.Fields[1].Type = -1 }, true},
		{"unknown shape", func(d *shadowdiffv1.ResponseDigest) { d.Body.Fields[1].Shape = 99 }, true},
		{"raw value too long", func(d *shadowdiffv1.ResponseDigest) { d.Body.Fields[2].RawValue = &long }, true},
		{"path not UTF-8", func(d *shadowdiffv1.ResponseDigest) { d.Body.Fields[1].Path = "b\xff" }, true},
		{"path with a control character", func(d *shadowdiffv1.ResponseDigest) { d.Body.Fields[1].Path = "b\x1e" }, true},
		{"raw value not UTF-8", func(d *shadowdiffv1.ResponseDigest) { d.Body.Fields[2].RawValue = proto.String("\xff") }, true},
		{"out of order", func(d *shadowdiffv1.ResponseDigest) {
			fs := d.Body.Fields
			fs[0], fs[2] = fs[2], fs[0]
		}, false},
		{"too many fields", func(d *shadowdiffv1.ResponseDigest) {
			d.Body.Fields = d.Body.Fields[:0]
			for i := range maxFields + 1 {
				d.Body.Fields = append(d.Body.Fields, entryOf(f{fmt.Sprintf("f%05d", i), tStr, sText, "x"}))
			}
		}, true},
	}
	src := newFieldSource(newPathTable())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := dg("k", primary, "/x", 200, f{"a", tStr, sText, "x"}, f{"b", tArr, 0, "1,2"}, f{"c", tNum, sInt, "7"})
			c.edit(d)
			wire, err := d.MarshalVT()
			if err != nil {
				t.Fatal(err)
			}
			// Twice: the second read has the first one's paths cached.
			for range 2 {
				got, checked, err := src.read(wire)
				if err != nil {
					t.Fatal(err)
				}
				verr := validateFlat(got)
				if (verr != nil) != c.invalid {
					t.Fatalf("validateFlat = %v, want invalid %v", verr, c.invalid)
				}
				if checked && verr != nil {
					t.Errorf("read says checked, validateFlat says %v", verr)
				}
				// Out of order, read sorts them: only validateFlat
				// can tell the order is strict.
				if wantChecked := c.name == "valid"; checked != wantChecked {
					t.Errorf("checked = %v, want %v", checked, wantChecked)
				}
			}
		})
	}
}
