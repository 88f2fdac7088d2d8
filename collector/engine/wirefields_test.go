package engine

import (
	"slices"
	"testing"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// A fieldSource reads what the generated decoder reads, for any encoding it
// accepts.
func FuzzWireFields(fz *testing.F) {
	raw := "7"
	d := dg("k", primary, "/x", 200, f{"a", tStr, sText, "x"}, f{"b", tArr, 0, "1,2"}, f{"c", tNum, sInt, "7"})
	d.Body.Fields[2].RawValue = &raw
	for _, d := range []*shadowdiffv1.ResponseDigest{d, dg("k", candidate, "/x", 200), {PairingKey: "k"}} {
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
		if _, err := src.read(other); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			got, err := src.read(wire)
			if err != nil || len(got) != len(fs) {
				t.Fatalf("read = %d fields (%v), want %d", len(got), err, len(fs))
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
