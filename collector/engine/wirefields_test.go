package engine

import (
	"testing"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// wireFields reads what the generated decoder reads, for any encoding it
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
	fz.Fuzz(func(t *testing.T, wire []byte) {
		var want shadowdiffv1.ResponseDigest
		if want.UnmarshalVT(wire) != nil {
			return
		}
		got, err := wireFields(wire)
		fs := want.GetBody().GetFields()
		if err != nil || len(got) != len(fs) {
			t.Fatalf("wireFields = %d fields (%v), want %d", len(got), err, len(fs))
		}
		for i, e := range fs {
			w := flatEntryOf(e)
			g := got[i]
			if g.path != w.path || g.valueHash != w.valueHash || g.unorderedHash != w.unorderedHash || g.typ != w.typ ||
				g.shape != w.shape || g.occurrences != w.occurrences || g.elements != w.elements || g.lengthBucket != w.lengthBucket ||
				(g.rawValue == nil) != (w.rawValue == nil) || (g.rawValue != nil && *g.rawValue != *w.rawValue) {
				t.Fatalf("field %d = %+v, want %+v", i, g, w)
			}
		}
	})
}
