package digest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

var testKey = NewKey([]byte("shadowdiff-test-key"))

func mustDigest(t testing.TB, src string, opts *JSONOptions) map[string]wire.FieldEntry {
	t.Helper()
	if opts == nil {
		opts = &JSONOptions{Key: testKey}
	}
	d, err := DigestJSON([]byte(src), opts)
	if err != nil {
		t.Fatalf("DigestJSON(%s): %v", src, err)
	}
	m := map[string]wire.FieldEntry{}
	for _, f := range d.Fields {
		m[f.Path] = f
	}
	return m
}

func paths(t *testing.T, src string) []string {
	d, err := DigestJSON([]byte(src), &JSONOptions{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	for _, f := range d.Fields {
		ps = append(ps, f.Path)
	}
	return ps
}

func TestPathsInDocumentOrder(t *testing.T) {
	got := strings.Join(paths(t, `{"user":{"id":7,"roles":["a","b"]},"items":[{"price":1},{"price":2,"x.y":null}],"":true}`), " | ")
	want := ` | user | user.id | user.roles | user.roles[] | items | items[] | items[].price | items[].x\.y | ""`
	if got != want {
		t.Errorf("paths:\n got %s\nwant %s", got, want)
	}
	if got := strings.Join(paths(t, `[{"id":1}]`), " | "); got != ` | [] | [].id` {
		t.Errorf("root array paths: %s", got)
	}
}

// Member names that are not UTF-8 (a Latin-1 service) give paths that are,
// as protobuf strings must be (the collector refuses others): each such
// byte is written \xNN, so "café" and "cafè" keep two paths, and neither
// can be confused with a name that has a backslash of its own.
func TestPathsOfLatin1Names(t *testing.T) {
	got := paths(t, "{\"caf\xe9\":1,\"caf\xe8\":2,\"caf\u00e9\":3,\"a\\\\xE9\":4}")
	want := []string{"", `caf\xE9`, `caf\xE8`, "caf\u00e9", `a\\xE9`}
	if !slices.Equal(got, want) {
		t.Errorf("paths %q, want %q", got, want)
	}
	for _, p := range got {
		if !utf8.ValidString(p) {
			t.Errorf("path %q is not UTF-8", p)
		}
	}
	// Control characters (JSON allows them escaped in names) are written
	// \xNN too: the collector refuses them in paths.
	if got, want := paths(t, `{"meta\u001etrace":1,"tab\t":2}`), []string{"", `meta\x1Etrace`, `tab\x09`}; !slices.Equal(got, want) {
		t.Errorf("paths %q, want %q", got, want)
	}
	// The empty name is written "", a name of quotes escaped.
	if got, want := paths(t, `{"":1,"\"\"":2}`), []string{"", `""`, `\"\"`}; !slices.Equal(got, want) {
		t.Errorf("paths %q, want %q", got, want)
	}
}

func TestOccurrencesFold(t *testing.T) {
	m := mustDigest(t, `{"items":[{"price":1,"tags":["a"]},{"price":"2","tags":["b","c"]},{"price":3,"tags":[]}]}`, nil)
	p := m["items[].price"]
	if p.Occurrences != 3 || p.Type != wire.TypeMixed || p.Shape != wire.ShapeMixed {
		t.Errorf("price = %+v", p)
	}
	tags := m["items[].tags"]
	if tags.Type != wire.TypeArray || tags.Elements != 3 || tags.Occurrences != 3 || tags.LengthBucket != 2 {
		t.Errorf("tags = %+v", tags)
	}
	if m["items"].Elements != 3 || m["items[]"].Occurrences != 3 {
		t.Errorf("items = %+v, items[] = %+v", m["items"], m["items[]"])
	}
}

func TestCanonicalValues(t *testing.T) {
	a := mustDigest(t, `{"n":1,"s":"caf\u00e9","o":{"a":1,"b":[1,2]}}`, nil)
	b := mustDigest(t, "{ \"o\" : {\"b\":[1.0, 2e0], \"a\":10e-1}, \"s\":\"café\",\n\"n\":1.00 }", nil)
	for p, fa := range a {
		if fb := b[p]; fa.ValueHash != fb.ValueHash {
			t.Errorf("%q: hashes differ for equal values", p)
		}
	}
	if a[""].ValueHash != b[""].ValueHash {
		t.Error("root hash depends on key order or spelling")
	}
}

func TestDifferencesShow(t *testing.T) {
	base := mustDigest(t, `{"id":1,"at":"2026-11-26T10:00:00Z","roles":["a","b"],"s":"1"}`, nil)
	for _, tc := range []struct {
		src, path string
		check     func(old, new wire.FieldEntry) bool
	}{
		{`{"id":2,"at":"2026-11-26T10:00:00Z","roles":["a","b"],"s":"1"}`, "id",
			func(o, n wire.FieldEntry) bool { return o.ValueHash != n.ValueHash && o.Type == n.Type }},
		{`{"id":1,"at":1764151200,"roles":["a","b"],"s":"1"}`, "at",
			func(o, n wire.FieldEntry) bool { return n.Type == wire.TypeNumber && n.Shape == wire.ShapeEpochSeconds }},
		{`{"id":1,"at":"2026-11-27T10:00:00Z","roles":["a","b"],"s":"1"}`, "at",
			func(o, n wire.FieldEntry) bool { return o.ValueHash != n.ValueHash && o.Shape == n.Shape }},
		{`{"id":1,"at":"2026-11-26T10:00:00Z","roles":["b","a"],"s":"1"}`, "roles",
			func(o, n wire.FieldEntry) bool {
				return o.ValueHash != n.ValueHash && o.UnorderedHash == n.UnorderedHash
			}},
		{`{"id":1,"at":"2026-11-26T10:00:00Z","roles":["a","b"],"s":1}`, "s",
			func(o, n wire.FieldEntry) bool { return o.ValueHash != n.ValueHash && n.Type == wire.TypeNumber }},
	} {
		got := mustDigest(t, tc.src, nil)
		if !tc.check(base[tc.path], got[tc.path]) {
			t.Errorf("%s: %q old %+v new %+v", tc.src, tc.path, base[tc.path], got[tc.path])
		}
	}
}

func TestMaxFieldsAndRaw(t *testing.T) {
	d, err := DigestJSON([]byte(`{"a":1,"b":{"c":"gold","d":[1,2]},"e":3}`), &JSONOptions{Key: testKey, MaxFields: 3,
		Raw: func(p string) bool { return p == "b.c" || p == "a" }})
	if err != nil {
		t.Fatal(err)
	}
	if !d.FieldsTruncated || len(d.Fields) != 3 {
		t.Fatalf("want 3 fields and truncated, got %d %v", len(d.Fields), d.FieldsTruncated)
	}
	if d.Fields[1].Raw == nil || *d.Fields[1].Raw != "1" {
		t.Errorf("raw a = %v", d.Fields[1].Raw)
	}
	m := mustDigest(t, `{"b":{"c":"gold"}}`, &JSONOptions{Key: testKey, Raw: func(p string) bool { return p == "b.c" }})
	if r := m["b.c"].Raw; r == nil || *r != "gold" || m["b"].Raw != nil {
		t.Errorf("raw b.c = %v, b = %v", r, m["b"].Raw)
	}
}

func TestInvalidJSON(t *testing.T) {
	for _, src := range []string{``, `{`, `{"a"}`, `{"a":}`, `[1,]`, `{"a":1,}`, `01`, `1.`, `"x`, "\"a\x01\"", `"\q"`, `tru`, `{} {}`, `nul`,
		strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2)} {
		if _, err := DigestJSON([]byte(src), &JSONOptions{Key: testKey}); err == nil {
			t.Errorf("%q: no error", src)
		}
	}
}

// FuzzDigestJSON checks the digester against encoding/json: it accepts
// exactly the valid documents, and re-encoding a document (other spacing,
// key order, escapes) never changes a hash.
func FuzzDigestJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}],"c":"\u00e9"}`, `[]`, `"x"`, `-0.5e3`, `{"a.b":{"[":true}}`, `[[],[[]]]`, `{"a":1,"a":2}`, "{\"caf\xe9\":{\"\xff\xfe\":[1]}}",
		`[0.00001,1e-5,2e400,1.2345678901234567890123456789e19,1000000000000000000000,0.0000000000000000000001,1000e999999999999999999999]`} {
		f.Add([]byte(s))
	}
	// One digester for the whole run: each input is digested after
	// whatever came before it, and then a fixed document after it.
	reuseOpts := BodyOptions{JSON: JSONOptions{Key: testKey, MaxFields: 64,
		Raw: func(p string) bool { return len(p)%3 == 0 }}}
	reused := NewBodyDigester(reuseOpts)
	fixed := catalogJSON(600)
	f.Fuzz(func(t *testing.T, src []byte) {
		got, err := DigestJSON(src, &JSONOptions{Key: testKey})
		want, werr := refDigestJSON(src, &JSONOptions{Key: testKey})
		if fmt.Sprint(err) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("DigestJSON differs from the reference for %q: err %v, want %v", src, err, werr)
		}
		for _, doc := range [][]byte{src, fixed} {
			b := Body{ContentType: "application/json", Data: doc, WireSize: uint64(len(doc))}
			equalDigest(t, fmt.Sprintf("reused digester on %q", doc), reused.Digest(b), refDigestBody(b, &reuseOpts))
		}
		valid := json.Valid(src)
		if (err == nil) != valid {
			t.Fatalf("DigestJSON err=%v but json.Valid=%v for %q", err, valid, src)
		}
		if !valid || !utf8Valid(src) {
			return
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(src))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil || hasDuplicateKeys(src) {
			return
		}
		re, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return
		}
		again, err := DigestJSON(re, &JSONOptions{Key: testKey})
		if err != nil {
			t.Fatalf("re-encoded document rejected: %v\n%s", err, re)
		}
		if len(got.Fields) == 0 || len(again.Fields) == 0 || got.Fields[0].ValueHash != again.Fields[0].ValueHash {
			t.Fatalf("root hash changed on re-encoding:\n%q\n%s", src, re)
		}
	})
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

// hasDuplicateKeys is conservative: any repeated member name anywhere, or
// a document it cannot read to the end. Numbers stay text, so one out of
// float64's range (1e700) does not end the scan early.
func hasDuplicateKeys(src []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	type frame struct {
		keys   map[string]bool
		object bool
		expect bool // next string token is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return !errors.Is(err, io.EOF)
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, frame{keys: map[string]bool{}, object: true, expect: true})
				continue
			case '[':
				stack = append(stack, frame{})
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expect {
				if stack[n-1].keys[v] {
					return true
				}
				stack[n-1].keys[v] = true
				stack[n-1].expect = false
				continue
			}
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].expect = true
		}
	}
}

// catalogJSON builds a realistic API response of about size bytes: a meta
// object with noise-like values and an array of products.
func catalogJSON(size int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"meta":{"request_id":"123e4567-e89b-12d3-a456-426614174000","at":"2026-11-26T10:00:00Z"},"items":[`)
	for i := 0; sb.Len() < size-2; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":%d,"name":"widget number %d","price":19.99,"tags":["a","b","c"],"in_stock":true,"vendor":{"id":"v-1","country":"NL"}}`, 10000+i, i)
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}
