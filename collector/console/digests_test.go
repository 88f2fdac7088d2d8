package console

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Synthetic traffic for a seeded collector: three endpoints, each request
// answered by primary, secondary and candidate.
//   - /api/orders:   body.order.total differs on the candidate in every
//     request (a real regression, raw values collected); body.meta.generated_at
//     differs on all three sides (noise); body.items[].sku is equal.
//   - /api/time:     body.now differs on all sides (noise) and body.flag differs
//     on the candidate in 3 requests out of 300 (1 %: rated ALMOST).
//   - /api/products: identical responses.
const (
	seedRequests   = 300
	seedOrdersPath = "/api/orders"
	seedTimePath   = "/api/time"
	seedProdPath   = "/api/products"
)

// valueHash stands in for the filter's keyed hash: any stable 64-bit value
// per canonical value works for the collector.
func valueHash(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

type fieldSpec struct {
	path  string
	typ   shadowdiffv1.JsonType
	shape shadowdiffv1.ValueShape
	value string
	raw   bool // the value is allowlisted (raw_value set)
}

func entry(f fieldSpec) *shadowdiffv1.FieldEntry {
	e := &shadowdiffv1.FieldEntry{
		Path: f.path, Type: f.typ, Shape: f.shape, Occurrences: 1,
		ValueHash: valueHash(f.value), UnorderedHash: valueHash(f.value),
	}
	if f.typ == shadowdiffv1.JsonType_JSON_TYPE_STRING {
		e.LengthBucket = uint32(bitsLen(len(f.value)))
	}
	if f.raw {
		e.RawValue = proto.String(f.value)
	}
	return e
}

func bitsLen(n int) int {
	b := 0
	for n > 0 {
		b++
		n >>= 1
	}
	return b
}

func digest(key string, role shadowdiffv1.Role, path string, t time.Time, fields []fieldSpec, date string) *shadowdiffv1.ResponseDigest {
	body := &shadowdiffv1.BodyDigest{ContentType: "application/json", Kind: shadowdiffv1.BodyKind_BODY_KIND_JSON}
	all := ""
	for _, f := range fields {
		body.Fields = append(body.Fields, entry(f))
		all += f.path + "=" + f.value + ";"
	}
	body.Hash = valueHash(all)
	body.WireSize = uint64(len(all))
	body.DecodedSize = uint64(len(all))
	version := "v1"
	if role == shadowdiffv1.Role_ROLE_CANDIDATE {
		version = "v2"
	}
	return &shadowdiffv1.ResponseDigest{
		PairingKey: key,
		Role:       role,
		Workload:   &shadowdiffv1.Workload{Name: "shop-" + version, Namespace: "demo", Version: version, Instance: fmt.Sprintf("shop-%s-%d", role, 1)},
		Endpoint:   &shadowdiffv1.EndpointRef{Method: "GET", Path: path, Authority: "shop"},
		Request:    &shadowdiffv1.RequestFingerprint{Method: "GET", Path: path},
		Status:     200,
		Headers: []*shadowdiffv1.HeaderDigest{
			{Name: "content-type", ValueHash: valueHash("application/json"), Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_TEXT, RawValue: proto.String("application/json")},
			{Name: "x-generated", ValueHash: valueHash(date), Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_TIMESTAMP},
		},
		Body:                  body,
		UpstreamLatencyMicros: 1500,
		StartUnixNanos:        t.UnixNano(),
		Shadow:                role != shadowdiffv1.Role_ROLE_PRIMARY,
	}
}

var roles = []shadowdiffv1.Role{shadowdiffv1.Role_ROLE_PRIMARY, shadowdiffv1.Role_ROLE_SECONDARY, shadowdiffv1.Role_ROLE_CANDIDATE}

// seedDigests returns the digests of the three endpoints' traffic, the
// oldest request at start, one per millisecond.
func seedDigests(start time.Time) []*shadowdiffv1.ResponseDigest {
	var out []*shadowdiffv1.ResponseDigest
	str, num := shadowdiffv1.JsonType_JSON_TYPE_STRING, shadowdiffv1.JsonType_JSON_TYPE_NUMBER
	ts, text, dec, integer := shadowdiffv1.ValueShape_VALUE_SHAPE_TIMESTAMP, shadowdiffv1.ValueShape_VALUE_SHAPE_TEXT, shadowdiffv1.ValueShape_VALUE_SHAPE_DECIMAL, shadowdiffv1.ValueShape_VALUE_SHAPE_INTEGER
	for i := 0; i < seedRequests; i++ {
		for ep, path := range []string{seedOrdersPath, seedTimePath, seedProdPath} {
			key := fmt.Sprintf("req-%s-%04d", path[5:], i)
			t := start.Add(time.Duration(i*3+ep) * time.Millisecond)
			for r, role := range roles {
				// Per-side timestamps make the noise: every side differs.
				stamp := t.Add(time.Duration(r) * time.Microsecond).Format(time.RFC3339Nano)
				var fields []fieldSpec
				switch path {
				case seedOrdersPath:
					total := "10.5"
					if role == shadowdiffv1.Role_ROLE_CANDIDATE {
						total = "10.50"
					}
					fields = []fieldSpec{
						{"order.id", num, integer, fmt.Sprint(1000 + i), true},
						{"order.total", str, text, total, true},
						{"items[].sku", str, text, "SKU-1", false},
						{"meta.generated_at", str, ts, stamp, false},
					}
				case seedTimePath:
					flag := "false"
					if role == shadowdiffv1.Role_ROLE_CANDIDATE && i%100 == 7 {
						flag = "true"
					}
					fields = []fieldSpec{
						{"now", str, ts, stamp, false},
						{"flag", str, text, flag, true},
					}
				default:
					fields = []fieldSpec{
						{"[].name", str, text, "chair", true},
						{"[].price", num, dec, "49.9", false},
					}
				}
				out = append(out, digest(key, role, path, t, fields, stamp))
			}
		}
	}
	return out
}
