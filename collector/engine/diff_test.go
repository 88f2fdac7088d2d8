package engine

import (
	"fmt"
	"strings"
	"testing"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func kinds(ds []fieldDiff) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.path+"="+strings.TrimPrefix(d.kind.String(), "DIFF_KIND_"))
	}
	return strings.Join(out, " ")
}

func TestDiffKinds(t *testing.T) {
	obj := f{"", tObj, 0, "root"}
	for _, tc := range []struct {
		name string
		l, r []f
		want string
	}{
		{"equal", []f{obj, {"a", tStr, sText, "x"}}, []f{{"a", tStr, sText, "x"}, obj}, ""},
		{"value", []f{{"a", tStr, sText, "x"}}, []f{{"a", tStr, sText, "y"}}, "body.a=VALUE"},
		{"type string to number", []f{{"at", tStr, sTime, "2024-01-01T00:00:00Z"}}, []f{{"at", tNum, sEpoch, "1704067200"}}, "body.at=TYPE"},
		{"type to null", []f{{"at", tStr, sTime, "2024"}}, []f{{"at", tNull, sNull, "null"}}, "body.at=TYPE"},
		{"shape", []f{{"at", tStr, sTime, "2024-01-01T00:00:00Z"}}, []f{{"at", tStr, sText, "yesterday"}}, "body.at=SHAPE"},
		{"missing", []f{{"a", tStr, sText, "x"}, {"b", tNum, sInt, "1"}}, []f{{"a", tStr, sText, "x"}}, "body.b=MISSING"},
		{"extra", []f{{"a", tStr, sText, "x"}}, []f{{"a", tStr, sText, "x"}, {"b", tNum, sInt, "1"}}, "body.b=EXTRA"},
		{"array length", []f{{"xs", tArr, 0, "1,2"}}, []f{{"xs", tArr, 0, "1,2,3"}}, "body.xs=ARRAY_LENGTH"},
		{"array order only", []f{{"xs", tArr, 0, "1,2,3"}}, []f{{"xs", tArr, 0, "3,1,2"}}, "body.xs=ORDER_ONLY"},
		{"object value change is its child's", []f{{"o", tObj, 0, "{a:1}"}, {"o.a", tNum, sInt, "1"}}, []f{{"o", tObj, 0, "{a:2}"}, {"o.a", tNum, sInt, "2"}}, "body.o.a=VALUE"},
		{"root array path", []f{{"[].id", tNum, sInt, "1"}}, []f{{"[].id", tNum, sInt, "2"}}, "body[].id=VALUE"},
		{"root value", []f{{"", tStr, sText, "a"}}, []f{{"", tStr, sText, "b"}}, "body=VALUE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := kinds(diffDigests(dg("k", primary, "/x", 200, tc.l...), dg("k", candidate, "/x", 200, tc.r...)))
			if got != tc.want {
				t.Errorf("diff = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDiffScalarOrderOnly(t *testing.T) {
	l := dg("k", primary, "/x", 200, f{"xs[]", tNum, sInt, "a"})
	r := dg("k", candidate, "/x", 200, f{"xs[]", tNum, sInt, "b"})
	l.Body.Fields[0].Occurrences, r.Body.Fields[0].Occurrences = 3, 3
	r.Body.Fields[0].UnorderedHash = l.Body.Fields[0].UnorderedHash
	if got := kinds(diffDigests(l, r)); got != "body.xs[]=ORDER_ONLY" {
		t.Errorf("diff = %q", got)
	}
}

func TestDiffStatusHeadersBodies(t *testing.T) {
	p := withHeaders(dg("k", primary, "/x", 200, f{"a", tStr, sText, "x"}), "content-type", "json", "date", "d1", "x-old", "1")
	c := withHeaders(dg("k", candidate, "/x", 500, f{"a", tStr, sText, "x"}), "content-type", "json", "date", "d2", "x-new", "1")
	c.Headers[1].Shape = sTime
	if got, want := kinds(diffDigests(p, c)), "headers.date=SHAPE headers.x-new=EXTRA headers.x-old=MISSING status=STATUS"; got != want {
		t.Errorf("diff = %q, want %q", got, want)
	}
	c.Headers[1].Shape = sText
	c.Status = 200
	if got := kinds(diffDigests(p, c)); !strings.HasPrefix(got, "headers.date=HEADER") {
		t.Errorf("header value change = %q", got)
	}
	// Headers out of order (a digest sortDigest did not see) are
	// compared by name, and the differences of every part come in path
	// order.
	p = withHeaders(dg("k", primary, "/x", 200, f{"a", tStr, sText, "x"}), "vary", "1", "date", "d1", "accept", "1")
	c = withHeaders(dg("k", candidate, "/x", 500, f{"a", tStr, sText, "y"}), "date", "d2", "vary", "1", "accept", "1")
	pr, _ := responseOf(p, nil)
	cr, _ := responseOf(c, nil)
	if got, want := kinds((&differ{}).responses(nil, &pr, &cr)), "body.a=VALUE headers.date=HEADER status=STATUS"; got != want {
		t.Errorf("diff with headers out of order = %q, want %q", got, want)
	}

	text := func(role shadowdiffv1.Role, hash uint64, kind shadowdiffv1.BodyKind, trunc bool) *shadowdiffv1.ResponseDigest {
		d := dg("k", role, "/x", 200)
		d.Body = &shadowdiffv1.BodyDigest{Kind: kind, Hash: hash, Truncated: trunc}
		return d
	}
	const (
		txt  = shadowdiffv1.BodyKind_BODY_KIND_TEXT
		js   = shadowdiffv1.BodyKind_BODY_KIND_JSON
		bad  = shadowdiffv1.BodyKind_BODY_KIND_INVALID_JSON
		none = shadowdiffv1.BodyKind_BODY_KIND_EMPTY
	)
	for _, tc := range []struct {
		l, r *shadowdiffv1.ResponseDigest
		want string
	}{
		{text(primary, 1, txt, false), text(candidate, 1, txt, false), ""},
		{text(primary, 1, txt, false), text(candidate, 2, txt, false), "body=BODY_NOT_COMPARABLE"},
		{text(primary, 1, js, true), text(candidate, 2, js, true), "body=BODY_NOT_COMPARABLE"},
		{text(primary, 1, bad, false), text(candidate, 2, js, false), "body=BODY_NOT_COMPARABLE"},
		{text(primary, 1, js, false), text(candidate, 0, none, false), "body=MISSING"},
		{text(primary, 0, none, false), text(candidate, 1, js, false), "body=EXTRA"},
		{text(primary, 1, js, false), text(candidate, 1, txt, false), "body=TYPE"},
	} {
		if got := kinds(diffDigests(tc.l, tc.r)); got != tc.want {
			t.Errorf("%v vs %v: diff = %q, want %q", tc.l.Body.Kind, tc.r.Body.Kind, got, tc.want)
		}
	}
}

func TestDiffFieldsTruncatedSkipsPresence(t *testing.T) {
	l := dg("k", primary, "/x", 200, f{"a", tStr, sText, "x"}, f{"b", tStr, sText, "y"})
	r := dg("k", candidate, "/x", 200, f{"a", tStr, sText, "x"})
	r.Body.FieldsTruncated = true
	if got := kinds(diffDigests(l, r)); got != "" {
		t.Errorf("diff with truncated field list = %q, want none", got)
	}
}

// The noise semantics of one request: which raw differences the same
// request's primary/secondary comparison explains.
func TestCompareRequestNoise(t *testing.T) {
	stamp := func(v string) f { return f{"at", tStr, sTime, v} }
	for _, tc := range []struct {
		name                string
		p, s, c             f
		explained, definite bool
		shapeChange, raw    bool
		wantRaw, wantNoise  string
	}{
		{"timestamp noisy on all sides is explained", stamp("t1"), stamp("t2"), stamp("t3"), true, false, false, true, "VALUE", "VALUE"},
		{"timestamp that becomes a number is reported", stamp("t1"), stamp("t2"), f{"at", tNum, sEpoch, "17"}, false, false, true, true, "TYPE", "VALUE"},
		{"timestamp that becomes null is reported", stamp("t1"), stamp("t2"), f{"at", tNull, sNull, "null"}, false, false, true, true, "TYPE", "VALUE"},
		{"stable field changed by candidate is definite", f{"a", tStr, sText, "x"}, f{"a", tStr, sText, "x"}, f{"a", tStr, sText, "y"}, false, true, false, true, "VALUE", "UNSPECIFIED"},
		{"noise without candidate change", f{"a", tStr, sText, "x"}, f{"a", tStr, sText, "y"}, f{"a", tStr, sText, "x"}, false, false, false, false, "UNSPECIFIED", "VALUE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmp := compareRequest(dg("k", primary, "/x", 200, tc.p), dg("k", secondary, "/x", 200, tc.s), dg("k", candidate, "/x", 200, tc.c))
			o := cmp.outcome("body." + tc.p.path)
			got := fmt.Sprintf("raw=%s noise=%s explained=%v definite=%v shape=%v",
				strings.TrimPrefix(o.raw.String(), "DIFF_KIND_"), strings.TrimPrefix(o.noise.String(), "DIFF_KIND_"),
				o.explained(), o.raw != kindNone && o.noise == kindNone, o.shapeChange())
			want := fmt.Sprintf("raw=%s noise=%s explained=%v definite=%v shape=%v", tc.wantRaw, tc.wantNoise, tc.explained, tc.definite, tc.shapeChange)
			if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			var rawDiffs, definite int
			for _, d := range cmp.differences() {
				if d.Comparison == shadowdiffv1.Comparison_COMPARISON_RAW {
					rawDiffs++
					if d.Definite {
						definite++
					}
				}
			}
			if (rawDiffs > 0) != tc.raw || (definite > 0) != tc.definite {
				t.Errorf("differences: %d raw, %d definite", rawDiffs, definite)
			}
		})
	}
}
