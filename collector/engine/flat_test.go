package engine

import (
	"testing"
	"unsafe"

	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// A stored digest kept slim comes back whole, its paths shared with
// every other digest's.
func TestSlimKeepsEverything(t *testing.T) {
	raw := "42"
	d := withHeaders(dg("k", primary, "/x", 200, f{"a", tStr, sText, "x"}, f{"b", tArr, 0, "1,2"}, f{"c", tNum, sInt, "42"}), "date", "d1")
	d.Body.Fields[2].RawValue = &raw
	d.Body.FieldsTruncated = true
	sortDigest(d)
	in := newInterner(newPathTable())
	light, fields := slim(d, in)
	if len(light.GetBody().GetFields()) != 0 || len(fields) != 3 {
		t.Fatalf("slim kept %d fields in the message, %d flat", len(light.GetBody().GetFields()), len(fields))
	}
	if got := full(light, fields); !proto.Equal(got, d) {
		t.Fatalf("full(slim(d)) = %v\nwant %v", got, d)
	}
	other := dg("k2", candidate, "/x", 200, f{"a", tStr, sText, "y"}, f{"b", tArr, 0, "1"}, f{"c", tNum, sInt, "7"})
	_, fields2 := slim(other, in)
	for i := range fields {
		if unsafe.StringData(fields[i].path) != unsafe.StringData(fields2[i].path) {
			t.Errorf("path %q not shared", fields[i].path)
		}
	}
	// Another list of the same shape that differs inside still gets its
	// own paths right.
	odd := dg("k3", candidate, "/x", 200, f{"a", tStr, sText, "y"}, f{"bb", tArr, 0, "1"}, f{"c", tNum, sInt, "7"})
	_, fields3 := slim(odd, in)
	if fields3[1].path != "bb" || unsafe.StringData(fields3[0].path) != unsafe.StringData(fields[0].path) {
		t.Errorf("paths = %q %q %q", fields3[0].path, fields3[1].path, fields3[2].path)
	}
}

func TestSlimWithoutBody(t *testing.T) {
	d := &shadowdiffv1.ResponseDigest{PairingKey: "k", Role: primary, Status: 204}
	light, fields := slim(d, newInterner(newPathTable()))
	if fields != nil || !proto.Equal(full(light, fields), d) {
		t.Fatalf("slim of a digest without body = %v %v", light, fields)
	}
}
