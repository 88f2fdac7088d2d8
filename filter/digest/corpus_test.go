package digest

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// tableDocs are the documents of the test tables and fuzz seeds in
// json_test.go, plus cases that exercise each branch of the digester.
var tableDocs = []string{
	`{"user":{"id":7,"roles":["a","b"]},"items":[{"price":1},{"price":2,"x.y":null}],"":true}`,
	`[{"id":1}]`,
	`{"items":[{"price":1,"tags":["a"]},{"price":"2","tags":["b","c"]},{"price":3,"tags":[]}]}`,
	`{"n":1,"s":"caf\u00e9","o":{"a":1,"b":[1,2]}}`,
	"{ \"o\" : {\"b\":[1.0, 2e0], \"a\":10e-1}, \"s\":\"café\",\n\"n\":1.00 }",
	`{"id":1,"at":"2026-11-26T10:00:00Z","roles":["a","b"],"s":"1"}`,
	`{"id":2,"at":"2026-11-26T10:00:00Z","roles":["a","b"],"s":"1"}`,
	`{"id":1,"at":1764151200,"roles":["a","b"],"s":"1"}`,
	`{"id":1,"at":"2026-11-27T10:00:00Z","roles":["b","a"],"s":1}`,
	`{"a":1,"b":{"c":"gold","d":[1,2]},"e":3}`,
	`{"b":{"c":"gold"}}`,
	``, `{`, `{"a"}`, `{"a":}`, `[1,]`, `{"a":1,}`, `01`, `1.`, `"x`, "\"a\x01\"", `"\q"`, `tru`, `{} {}`, `nul`,
	strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
	strings.Repeat(`{"a": `, maxDepth) + "[ 1]" + strings.Repeat("}", maxDepth),
	`{"a":[1,2,{"b":null}],"c":"\u00e9"}`, `[]`, `"x"`, `-0.5e3`, `{"a.b":{"[":true}}`, `[[],[[]]]`, `{"a":1,"a":2}`,
	// numbers: canonical forms, shapes, errors
	`[0,-0,1,-1,1.0,1.50,-0.0,1e0,10e-1,1E+2,123456789012345678,-1234567890123456789012,1764157312,1764157312123,9999999999,1000000000,-1764157312,0.000001,1e21,1e-7,1.5e300,1e400,-1e400,2.5E-3]`,
	`[0.00001,1e-5,1E-5,0.1e-4,1e-05,0.0000001,1e-7,2e400,10e399,1e-400,12345678901234567890.123456789,1.2345678901234567890123456789e19,1.2345675e6,1000000000000000000000,100000000000000000000.0,0.0000000000000000000001,-0.0000000000000000000001e-99999999999999999999,1000e999999999999999999999,0.001e1000000000000000000001,-0e-99999999999999999999]`,
	`[-, -a, 1.e3, 1e, 1e+, 00, -01]`, `[1e]`, `[1.]`, `[-]`, `[01]`, `[1x]`, `-`, `1e+`,
	// strings: escapes, shapes, unicode, errors
	`["", "\"", "\\", "\/", "\b\f\n\r\t", "\u0041\u00e9\u4e2d", "\ud83d\ude00", "\ud800", "\ud800x", "\udc00\ud800", "\u12", "\uzzzz"]`,
	`["123e4567-e89b-12d3-a456-426614174000","2026-11-26","2026-11-26T11:41:52.123+01:00","2026-11-26 11:41","Sun, 06 Nov 1994 08:49:37 GMT","12.50","-7","+3.","deadbeef01","cafe","https://x.y/z","http://a","ops@example.com","a@b","eyJhbGciOiJIUzI1NiJ9abc","eyJhbGciOiJIUzI1NiJ9ab==","supercalifragilistic","gold",".","a b@c.d","a@b@c.d","0123456789abcdefABCDEF"]`,
	"[\"tab\there\"]", "\"ctl\x1f\"", `"\x"`, `"\u`, `"abc\`, `"abc\"`, "\"\xff\xfe\"", "\"caf\xc3\xa9 \xe4\xb8\xad\"",
	// literals and structure errors
	`[true,false,null]`, `[truex]`, `[nulll]`, `{"a" 1}`, `{"a":1 "b":2}`, `[1 2]`, `{1:2}`, `{"a":1`, `[1`, `{"a"`, `{"a":`, `[`, ` `, "\t\n\r [ ] \n", `]`, `}`, `{"a":1}}`, `[1]]`, `{"":{"":[]}}`,
	// keys: metacharacters, escapes, wide objects, duplicates
	`{"a.b":1,"a[]":2,"a\\b":3,"":4,"\u0000":5,"x\"y":6,"\u002e":7}`,
	`{"k01":1,"k02":2,"k03":3,"k04":4,"k05":5,"k06":6,"k07":7,"k08":8,"k09":9,"k10":10,"k11":11,"k12":{"k01":[{"k09":1}]}}`,
	`[{"k01":1,"k02":2,"k03":3,"k04":4,"k05":5,"k06":6,"k07":7,"k08":8,"k09":9,"k10":10},{"k10":1,"k01":{"z":[[1],[2,3]]},"new":[]}]`,
	`{"a":{"b":{"c":{"d":[{"e":[[{"f":"x"}]]}]}}},"a2":[[[]]],"a3":[{},{}],"a4":[[],{}]}`,
	`{"mixed":[1,"1",true,null,{},[],1.5,"2026-11-26"]}`,
	`{"long":"` + strings.Repeat("é", 300) + `","obj":{"x":"` + strings.Repeat("ab", 200) + `"},"arr":[` + strings.Repeat(`"中",`, 100) + `1]}`,
}

// corpusDocs returns every document the equivalence tests run: the fuzz
// seed corpus, tableDocs, generated documents and size variants.
func corpusDocs(t testing.TB) [][]byte {
	t.Helper()
	var docs [][]byte
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDigestJSON", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("fuzz seed corpus: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		doc, err := readFuzzSeed(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
	}
	for _, s := range tableDocs {
		docs = append(docs, []byte(s))
	}
	for _, size := range []int{100, 1 << 10, 16 << 10} {
		docs = append(docs, catalogJSON(size))
	}
	for i := range 40 {
		docs = append(docs, generatedDoc(i))
	}
	return docs
}

// readFuzzSeed reads a one-value "go test fuzz v1" file holding []byte("...").
func readFuzzSeed(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fuzz seed: %w", err)
	}
	_, body, ok := strings.Cut(strings.TrimSpace(string(raw)), "\n")
	body = strings.TrimSpace(body)
	if !ok || !strings.HasPrefix(body, "[]byte(") || !strings.HasSuffix(body, ")") {
		return nil, fmt.Errorf("fuzz seed %s: not a single []byte value", path)
	}
	s, err := strconv.Unquote(body[len("[]byte(") : len(body)-1])
	if err != nil {
		return nil, fmt.Errorf("fuzz seed %s: %w", path, err)
	}
	return []byte(s), nil
}

// generatedDoc builds a document that varies with i: member names that come
// and go, changing types, escapes, nesting and widths, so consecutive
// documents share some paths and not others.
func generatedDoc(i int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"id":%d,"v%d":{"x":%d}`, i, i%5, i)
	switch i % 4 {
	case 0:
		fmt.Fprintf(&b, `,"t":"2026-11-%02dT10:00:00Z"`, i%28+1)
	case 1:
		fmt.Fprintf(&b, `,"t":%d`, 1764151200+i)
	case 2:
		b.WriteString(`,"t":null,"esc\u002ekey":"a\nb"`)
	default:
		fmt.Fprintf(&b, `,"t":[%d,"%d",%d.%d]`, i, i, i, i%3)
	}
	b.WriteString(`,"rows":[`)
	for j := range i % 7 {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"k%d":%d,"name":"row %d","tags":[%s]}`, (i+j)%11, j, j, strings.Repeat(`"t",`, j)+`"z"`)
	}
	b.WriteString(`]`)
	if i%3 == 0 {
		b.WriteString(`,"deep":`)
		b.WriteString(strings.Repeat(`[{"d":`, i%9))
		b.WriteString(`1`)
		b.WriteString(strings.Repeat(`}]`, i%9))
	}
	b.WriteString(`}`)
	return []byte(b.String())
}

// uniqueKeysDoc has n member names not seen in any other document.
func uniqueKeysDoc(seed, n int) []byte {
	var b strings.Builder
	b.WriteString(`{`)
	for j := range n {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"u%d_%d":{"v":%d}`, seed, j, j)
	}
	b.WriteString(`}`)
	return []byte(b.String())
}

func gzipBytes(t testing.TB, b []byte) []byte {
	return compressed(t, b, func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriter(w), nil })
}

// zlibBytes encodes b as "deflate" is defined (RFC 9110: zlib, RFC 1950).
func zlibBytes(t testing.TB, b []byte) []byte {
	return compressed(t, b, func(w io.Writer) (io.WriteCloser, error) { return zlib.NewWriterLevel(w, zlib.BestSpeed) })
}

// rawDeflateBytes encodes b as raw DEFLATE (RFC 1951), which some old
// servers send as "deflate".
func rawDeflateBytes(t testing.TB, b []byte) []byte {
	return compressed(t, b, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
}

// compressed returns b written through the writer newWriter makes.
func compressed(t testing.TB, b []byte, newWriter func(io.Writer) (io.WriteCloser, error)) []byte {
	var out bytes.Buffer
	w, err := newWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// bodiesOf wraps each document in the ways a filter captures bodies: plain
// and typed, gzip and deflate, truncated captures and corrupt encodings.
func bodiesOf(t testing.TB, docs [][]byte) []Body {
	var bodies []Body
	for i, doc := range docs {
		bodies = append(bodies, Body{ContentType: "application/json", Data: doc, WireSize: uint64(len(doc))})
		switch i % 6 {
		case 0:
			z := gzipBytes(t, doc)
			bodies = append(bodies, Body{ContentType: "application/json; charset=utf-8", ContentEncoding: "gzip", Data: z, WireSize: uint64(len(z))})
		case 1:
			z := zlibBytes(t, doc)
			raw := rawDeflateBytes(t, doc)
			bodies = append(bodies,
				Body{ContentType: "Application/Problem+JSON", ContentEncoding: " Deflate ", Data: z, WireSize: uint64(len(z))},
				Body{ContentType: "application/json", ContentEncoding: "deflate", Data: raw, WireSize: uint64(len(raw))},
				Body{ContentType: "application/json", ContentEncoding: "deflate", Data: z[:len(z)/2], WireSize: uint64(len(z)), Truncated: true})
		case 2:
			bodies = append(bodies, Body{Data: doc, WireSize: uint64(len(doc))})
		case 3:
			z := gzipBytes(t, doc)
			bodies = append(bodies, Body{ContentType: "text/json", ContentEncoding: "x-gzip", Data: z[:len(z)/2], WireSize: uint64(len(z)), Truncated: true})
		case 4:
			bodies = append(bodies, Body{ContentType: "application/json", Data: doc[:len(doc)/2], WireSize: uint64(len(doc)), Truncated: true})
		default:
			bodies = append(bodies, Body{ContentType: "text/plain", Data: doc, WireSize: uint64(len(doc))})
		}
	}
	big := bytes.Repeat([]byte(`{"a":[1,2,3],"b":"xyz"},`), 200)
	bigDoc := append(append([]byte("["), big...), "{}]"...)
	zbig := gzipBytes(t, bigDoc)
	zlibBig := zlibBytes(t, bigDoc)
	zlibSmall := zlibBytes(t, []byte(`{"a":1}`))
	badSum := append([]byte(nil), zlibSmall...)
	badSum[len(badSum)-1] ^= 1
	bodies = append(bodies,
		Body{},
		Body{WireSize: 10, Truncated: true},
		Body{ContentType: "application/json", ContentEncoding: "gzip", Data: zbig, WireSize: uint64(len(zbig))},
		Body{ContentType: "application/json", ContentEncoding: "gzip", Data: []byte("not gzip"), WireSize: 8},
		Body{ContentType: "application/json", ContentEncoding: "deflate", Data: []byte{0xff, 0xff, 0xff}, WireSize: 3},
		Body{ContentType: "application/json", ContentEncoding: "deflate", Data: zlibBig, WireSize: uint64(len(zlibBig))},
		Body{ContentType: "application/json", ContentEncoding: "deflate", Data: rawDeflateBytes(t, bigDoc), WireSize: 4000},
		Body{ContentType: "application/json", ContentEncoding: "deflate", Data: badSum, WireSize: uint64(len(badSum))},
		Body{ContentType: "application/json", ContentEncoding: "deflate", Data: zlibSmall[:len(zlibSmall)-2], WireSize: uint64(len(zlibSmall)), Truncated: true},
		Body{ContentType: "application/json", ContentEncoding: "deflate", Data: zlibSmall[:len(zlibSmall)-2], WireSize: uint64(len(zlibSmall))},
		Body{ContentType: "application/json", ContentEncoding: "deflate", Data: append(zlibBytes(t, []byte(`{"a":2}`)), "trailing"...), WireSize: 30},
		Body{ContentType: "application/json", ContentEncoding: "deflate", Data: zlibSmall[:1], WireSize: 20, Truncated: true},
		Body{ContentType: "application/json", ContentEncoding: "deflate", Data: []byte{0x78, 0xbb, 0x12, 0x34, 0x56, 0x78, 0xff}, WireSize: 7}, // FDICT set
		Body{ContentType: "application/json", ContentEncoding: "gzip", Data: append(gzipBytes(t, []byte(`{"a":1}`)), "trailing"...), WireSize: 20},
		Body{ContentType: "application/json", ContentEncoding: "gzip", Data: gzipBytes(t, []byte(`{"a":1}`))[:15], WireSize: 30},
		Body{ContentType: "application/json", ContentEncoding: "br", Data: []byte(`{"a":1}`), WireSize: 7},
		Body{ContentType: "image/png", Data: []byte{0x89, 'P', 'N', 'G', 0xff}, WireSize: 5},
		Body{ContentType: "", Data: []byte(" \n[1,2]"), WireSize: 7},
		Body{ContentType: "", Data: []byte("plain words"), WireSize: 11},
		Body{ContentType: "", Data: []byte{0xff, 0xfe, 0}, WireSize: 3},
		Body{ContentType: "Text/HTML", Data: []byte("<p>\xff</p>"), WireSize: 8},
	)
	return bodies
}
