package digest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// optionVariants are the body options the equivalence tests run under.
func optionVariants() map[string]BodyOptions {
	all := func(string) bool { return true }
	some := func(p string) bool {
		return p == "" || p == "b.c" || p == "a" || strings.HasSuffix(p, "[]") || strings.HasPrefix(p, "items[].") || p == "long" || p == "obj"
	}
	return map[string]BodyOptions{
		"plain":         {JSON: JSONOptions{Key: testKey}},
		"maxfields3":    {JSON: JSONOptions{Key: testKey, MaxFields: 3, Raw: some}},
		"maxfields7":    {JSON: JSONOptions{Key: NewKey([]byte("another key, other hashes")), MaxFields: 7}},
		"raw-all":       {JSON: JSONOptions{Key: testKey, MaxFields: 2048, Raw: all}, MaxDecodedBytes: 1 << 20},
		"raw-some":      {JSON: JSONOptions{Key: testKey, Raw: some}, MaxDecodedBytes: 600},
		"small-budget":  {JSON: JSONOptions{Key: testKey, MaxFields: 40, Raw: all}, MaxDecodedBytes: 64},
		"default-limit": {JSON: JSONOptions{Key: testKey, MaxFields: 2048}},
	}
}

// equalDigest fails t when got and want differ in any field, Raw values
// included.
func equalDigest(t *testing.T, label string, got, want *wire.BodyDigest) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	t.Errorf("%s: digests differ\n got %s\nwant %s", label, dumpDigest(got), dumpDigest(want))
}

func dumpDigest(d *wire.BodyDigest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%+v", *d)
	for _, f := range d.Fields {
		raw := "<nil>"
		if f.Raw != nil {
			raw = fmt.Sprintf("%q", *f.Raw)
		}
		fmt.Fprintf(&b, "\n  %q %v %v lb=%d h=%x u=%x occ=%d el=%d raw=%s", f.Path, f.Type, f.Shape, f.LengthBucket, f.ValueHash, f.UnorderedHash, f.Occurrences, f.Elements, raw)
	}
	return b.String()
}

// TestReusableDigesterMatchesReference runs one BodyDigester per option set
// over every body of the corpus, forwards, backwards and again, and requires
// each result to equal the reference implementation's and the one-shot
// DigestBody's.
func TestReusableDigesterMatchesReference(t *testing.T) {
	bodies := bodiesOf(t, corpusDocs(t))
	for name, opts := range optionVariants() {
		t.Run(name, func(t *testing.T) {
			d := NewBodyDigester(opts)
			order := make([]int, 0, 3*len(bodies))
			for i := range bodies {
				order = append(order, i)
			}
			for i := range bodies {
				order = append(order, len(bodies)-1-i)
			}
			for i := range bodies {
				order = append(order, (i*7)%len(bodies))
			}
			for n, i := range order {
				want := refDigestBody(bodies[i], &opts)
				equalDigest(t, fmt.Sprintf("call %d, body %d (reused)", n, i), d.Digest(bodies[i]), want)
				if n < len(bodies) {
					equalDigest(t, fmt.Sprintf("body %d (one-shot)", i), DigestBody(bodies[i], &opts), want)
				}
			}
		})
	}
}

// TestDigestJSONMatchesReference compares the one-shot DigestJSON with the
// reference, errors included.
func TestDigestJSONMatchesReference(t *testing.T) {
	for name, opts := range optionVariants() {
		for i, doc := range corpusDocs(t) {
			got, gerr := DigestJSON(doc, &opts.JSON)
			want, werr := refDigestJSON(doc, &opts.JSON)
			if fmt.Sprint(gerr) != fmt.Sprint(werr) {
				t.Errorf("%s doc %d %.80q: error %v, want %v", name, i, doc, gerr, werr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s doc %d %.80q: fields differ\n got %s\nwant %s", name, i, doc,
					dumpDigest(&wire.BodyDigest{Fields: got.Fields, FieldsTruncated: got.FieldsTruncated}),
					dumpDigest(&wire.BodyDigest{Fields: want.Fields, FieldsTruncated: want.FieldsTruncated}))
			}
		}
	}
}

// TestPathCacheReset feeds more distinct paths than the path cache holds, so
// it is reset between documents, and checks results stay equal.
func TestPathCacheReset(t *testing.T) {
	opts := BodyOptions{JSON: JSONOptions{Key: testKey, Raw: func(p string) bool { return strings.HasSuffix(p, "9.v") }}}
	d := NewBodyDigester(opts)
	common := catalogJSON(2 << 10)
	for i := range 12 {
		for _, doc := range [][]byte{uniqueKeysDoc(i, 1500), common} {
			b := Body{ContentType: "application/json", Data: doc, WireSize: uint64(len(doc))}
			equalDigest(t, fmt.Sprintf("round %d", i), d.Digest(b), refDigestBody(b, &opts))
		}
	}
	if n := d.json.paths.len(); n > maxCachedPaths+2*1500+100 {
		t.Errorf("path cache holds %d paths, want it reset near %d", n, maxCachedPaths)
	}
}

// TestResultValidUntilNextCall: a result is overwritten by the next call,
// but not before; its Fields slice is reused.
func TestResultValidUntilNextCall(t *testing.T) {
	opts := BodyOptions{JSON: JSONOptions{Key: testKey, Raw: func(string) bool { return true }}}
	d := NewBodyDigester(opts)
	a := []byte(`{"tier":"gold","n":[1,2]}`)
	first := d.Digest(Body{ContentType: "application/json", Data: a, WireSize: uint64(len(a))})
	want := refDigestBody(Body{ContentType: "application/json", Data: a, WireSize: uint64(len(a))}, &opts)
	equalDigest(t, "first", first, want)
	snapshot := dumpDigest(first)
	b := []byte(`{"tier":"silver","m":true}`)
	second := d.Digest(Body{ContentType: "application/json", Data: b, WireSize: uint64(len(b))})
	if !slices.ContainsFunc(second.Fields, func(f wire.FieldEntry) bool { return f.Path == "m" }) {
		t.Errorf("second result lacks its own field: %s", dumpDigest(second))
	}
	if snapshot == dumpDigest(second) {
		t.Error("second document digested like the first")
	}
}
