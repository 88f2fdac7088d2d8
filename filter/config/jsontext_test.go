package config

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// jsonCases are documents the reader and encoding/json must judge alike.
var jsonCases = []string{
	`{}`, `[]`, `{"a":1}`, ` {"a" : [1, 2.5, -0, 1e3, 1E-2, -1.5e+7] } `, `"x"`, `true`, `false`, `null`, `0`, `-0.0`,
	`"\u00e9\n\t\"\\\/\b\f\r"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ude00\ud83d"`, "\"\xff\xfe\"", "\"a\xc3\"",
	`{"a":{"b":{"c":[[],{}]}}}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `[01]`, `[1.]`, `[.5]`, `[1e]`, `[-]`, `[+1]`,
	`"\x"`, `"\u12"`, `"\u12g4"`, "\"a\tb\"", `tru`, `nul`, `[true false]`, `{"a":1}{}`, `{"a":1} x`, ``, ` `, `"`, `[`, `{`,
	`{"a":"b","a":"c"}`, `[1, 2]  `, "\n[\r\n1\t]\n", `{"":0}`, `[NaN]`, `[Infinity]`, `["\u0000"]`,
}

func TestJSONMatchesEncodingJSON(t *testing.T) {
	for _, in := range jsonCases {
		ours, theirs := checkJSON([]byte(in)) == nil, json.Valid([]byte(in))
		if ours != theirs {
			t.Errorf("%q: valid %v here, %v in encoding/json", in, ours, theirs)
		}
	}
}

func TestJSONDepthIsBounded(t *testing.T) {
	deep := strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)
	if err := checkJSON([]byte(deep)); err == nil || !strings.Contains(err.Error(), "deeper") {
		t.Errorf("%d nested arrays: error %v, want one about depth", maxJSONDepth+1, err)
	}
	ok := strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth)
	if err := checkJSON([]byte(ok)); err != nil {
		t.Errorf("%d nested arrays: %v", maxJSONDepth, err)
	}
}

func TestNotJSONNamesTheByte(t *testing.T) {
	_, err := Parse([]byte(`{"role":"primary",}`))
	if err == nil || !strings.Contains(err.Error(), "not valid JSON") || !strings.Contains(err.Error(), "byte 18") {
		t.Errorf("error %v: want 'not valid JSON' with the offset of the '}'", err)
	}
}

// fuzzTarget has a field of every kind the config uses.
type fuzzTarget struct {
	S string   `json:"s"`
	N int      `json:"n"`
	U uint32   `json:"u"`
	F float64  `json:"f"`
	B bool     `json:"b"`
	L []string `json:"l"`
	O struct {
		X int   `json:"x"`
		Y []int `json:"y"`
	} `json:"o"`
}

// FuzzJSON checks the reader against encoding/json: the same documents are
// valid, strings read the same, and a document decodeStrict accepts (known
// keys only, spelt exactly) decodes as encoding/json decodes it.
func FuzzJSON(f *testing.F) {
	for _, in := range jsonCases {
		f.Add([]byte(in))
	}
	f.Add([]byte(`{"s":"a\u00e9","n":-3,"u":7,"f":2.5e-3,"b":true,"l":["x",null,"y"],"o":{"x":1,"y":[1,2]}}`))
	f.Add([]byte(`{"n":1.0}`))
	f.Add([]byte(`{"u":-1}`))
	f.Add([]byte(`{"u":4294967296}`))
	f.Add([]byte(`{"f":1e400}`))
	f.Add([]byte(`{"n":9223372036854775808}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ours, theirs := checkJSON(data) == nil, json.Valid(data)
		if ours != theirs {
			t.Fatalf("%q: valid %v here, %v in encoding/json", data, ours, theirs)
		}
		if !ours {
			return
		}
		var want string
		if trimmed := strings.TrimSpace(string(data)); strings.HasPrefix(trimmed, `"`) && json.Unmarshal(data, &want) == nil {
			got, err := unquote([]byte(trimmed))
			if err != nil || got != want {
				t.Fatalf("%q: read %q (%v), encoding/json %q", data, got, err, want)
			}
		}
		var got, exp fuzzTarget
		ourErr := decodeStrict(data, &got)
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		theirErr := dec.Decode(&exp)
		switch {
		case ourErr == nil && theirErr != nil:
			t.Fatalf("%q: decoded here as %+v, encoding/json refuses it: %v", data, got, theirErr)
		case ourErr != nil && theirErr == nil && exactKeys(t, data):
			// Only refusals by design may differ: keys spelt in
			// another case or given twice, nesting beyond maxJSONDepth.
			t.Fatalf("%q: refused here (%v), encoding/json decodes it as %+v", data, ourErr, exp)
		case ourErr == nil && !reflect.DeepEqual(got, exp):
			t.Fatalf("%q: decoded here as %+v, by encoding/json as %+v", data, got, exp)
		}
	})
}

// exactKeys reports whether a valid document's object keys are all
// fuzzTarget's JSON names spelt exactly, none twice in an object, and its
// nesting within maxJSONDepth: what decodeStrict refuses on purpose
// (encoding/json matches keys in any case and keeps the last of two).
func exactKeys(t *testing.T, data []byte) bool {
	known := map[string]bool{}
	for _, typ := range []reflect.Type{reflect.TypeFor[fuzzTarget](), reflect.TypeFor[fuzzTarget]().Field(6).Type} {
		for i := range typ.NumField() {
			known[typ.Field(i).Tag.Get("json")] = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return true // the end (the document is valid)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
				continue
			}
			k := tok.(string)
			if !known[k] || top.keys[k] {
				return false
			}
			top.keys[k], top.key = true, false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxJSONDepth {
				return false
			}
			stack = append(stack, &frame{object: tok == json.Delim('{'), keys: map[string]bool{}, key: true})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value (or a closed array) ends a member: a key comes next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true
		}
	}
}
