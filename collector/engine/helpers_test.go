package engine

import (
	"fmt"
	"hash/fnv"
	"sort"
	"time"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// h stands in for the filter's keyed value hash.
func h(s string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(s))
	return f.Sum64()
}

const (
	tStr  = shadowdiffv1.JsonType_JSON_TYPE_STRING
	tNum  = shadowdiffv1.JsonType_JSON_TYPE_NUMBER
	tNull = shadowdiffv1.JsonType_JSON_TYPE_NULL
	tObj  = shadowdiffv1.JsonType_JSON_TYPE_OBJECT
	tArr  = shadowdiffv1.JsonType_JSON_TYPE_ARRAY

	sText  = shadowdiffv1.ValueShape_VALUE_SHAPE_TEXT
	sTime  = shadowdiffv1.ValueShape_VALUE_SHAPE_TIMESTAMP
	sInt   = shadowdiffv1.ValueShape_VALUE_SHAPE_INTEGER
	sEpoch = shadowdiffv1.ValueShape_VALUE_SHAPE_EPOCH_SECONDS
	sNull  = shadowdiffv1.ValueShape_VALUE_SHAPE_NULL
)

// f is a field of a test body: value is hashed; for arrays, value lists
// elements separated by "," (order matters for value_hash only).
type f struct {
	path  string
	typ   shadowdiffv1.JsonType
	shape shadowdiffv1.ValueShape
	value string
}

func entryOf(x f) *shadowdiffv1.FieldEntry {
	e := &shadowdiffv1.FieldEntry{Path: x.path, Type: x.typ, Shape: x.shape, ValueHash: h(x.value), UnorderedHash: h(x.value), Occurrences: 1}
	if x.typ == tArr {
		var elems []string
		if x.value != "" {
			elems = splitComma(x.value)
		}
		e.Elements = uint32(len(elems))
		e.LengthBucket = lengthBucket(uint64(len(elems)))
		sorted := append([]string(nil), elems...)
		sort.Strings(sorted)
		e.UnorderedHash = h(fmt.Sprint(sorted))
		e.ValueHash = h(fmt.Sprint(elems))
	}
	return e
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// dg builds a JSON response digest of GET path.
func dg(key string, role shadowdiffv1.Role, path string, status uint32, fields ...f) *shadowdiffv1.ResponseDigest {
	body := &shadowdiffv1.BodyDigest{ContentType: "application/json", Kind: shadowdiffv1.BodyKind_BODY_KIND_JSON}
	all := ""
	for _, x := range fields {
		body.Fields = append(body.Fields, entryOf(x))
		all += x.path + "=" + x.value + ";"
	}
	body.Hash = h(all)
	return &shadowdiffv1.ResponseDigest{
		PairingKey: key, Role: role,
		Endpoint: &shadowdiffv1.EndpointRef{Method: "GET", Path: path},
		Request:  &shadowdiffv1.RequestFingerprint{Method: "GET", Path: path},
		Status:   status, Body: body, Shadow: role != primary,
		StartUnixNanos: time.Unix(1_800_000_000, 0).UnixNano(),
	}
}

func withHeaders(d *shadowdiffv1.ResponseDigest, kv ...string) *shadowdiffv1.ResponseDigest {
	for i := 0; i+1 < len(kv); i += 2 {
		d.Headers = append(d.Headers, &shadowdiffv1.HeaderDigest{Name: kv[i], ValueHash: h(kv[i+1]), Shape: sText})
	}
	return d
}
