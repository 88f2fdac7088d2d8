package config

import (
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
		if decodeStrict(data, &got) != nil {
			return
		}
		if err := json.Unmarshal(data, &exp); err != nil {
			t.Fatalf("%q: decoded here as %+v, encoding/json refuses it: %v", data, got, err)
		}
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("%q: decoded here as %+v, by encoding/json as %+v", data, got, exp)
		}
	})
}
