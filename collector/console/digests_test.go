package console

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Synthetic traffic for a seeded collector, as the filters of primary,
// secondary and candidate would report it:
//   - GET /api/orders/{id} (ids 1000…): body.order.total differs on the
//     candidate in every request ("10.5" -> "10.50", raw values collected):
//     a real regression. body.meta.generated_at and the x-generated header
//     differ on all three sides (noise); body.items[].sku is equal.
//     seedIncomplete more requests never got a candidate response.
//   - GET /api/time: body.now differs on all sides (noise); body.flag
//     differs on the candidate in 3 requests out of 300 (1 %: ALMOST).
//   - GET /api/products: identical responses.
//   - POST /api/orders: unsafe, so the shadows answered locally
//     (skip = side effect); nothing is compared.
const (
	seedRequests    = 300
	seedSideEffects = 12
	seedIncomplete  = 7 // 5 without a candidate digest, 2 where it had no response
	seedOrdersPath  = "/api/orders/"
	seedTimePath    = "/api/time"
	seedProdPath    = "/api/products"
	seedPostPath    = "/api/orders"
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

func digest(key string, role shadowdiffv1.Role, method, path string, t time.Time, fields []fieldSpec, stamp string) *shadowdiffv1.ResponseDigest {
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
		Workload:   &shadowdiffv1.Workload{Name: "shop-" + version, Namespace: "demo", Version: version, Instance: fmt.Sprintf("shop-%s-1", roleName(role))},
		Endpoint:   &shadowdiffv1.EndpointRef{Method: method, Path: path, Authority: "shop"},
		Request:    &shadowdiffv1.RequestFingerprint{Method: method, Path: path},
		Status:     200,
		Headers: []*shadowdiffv1.HeaderDigest{
			{Name: "content-type", ValueHash: valueHash("application/json"), Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_TEXT, RawValue: proto.String("application/json")},
			{Name: "x-generated", ValueHash: valueHash(stamp), Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_TIMESTAMP},
		},
		Body:                  body,
		UpstreamLatencyMicros: 1500,
		StartUnixNanos:        t.UnixNano(),
		Shadow:                role != shadowdiffv1.Role_ROLE_PRIMARY,
	}
}

func roleName(r shadowdiffv1.Role) string {
	switch r {
	case shadowdiffv1.Role_ROLE_PRIMARY:
		return "primary"
	case shadowdiffv1.Role_ROLE_SECONDARY:
		return "secondary"
	}
	return "candidate"
}

var roles = []shadowdiffv1.Role{shadowdiffv1.Role_ROLE_PRIMARY, shadowdiffv1.Role_ROLE_SECONDARY, shadowdiffv1.Role_ROLE_CANDIDATE}

const (
	typString   = shadowdiffv1.JsonType_JSON_TYPE_STRING
	typNumber   = shadowdiffv1.JsonType_JSON_TYPE_NUMBER
	shapeTime   = shadowdiffv1.ValueShape_VALUE_SHAPE_TIMESTAMP
	shapeText   = shadowdiffv1.ValueShape_VALUE_SHAPE_TEXT
	shapeDec    = shadowdiffv1.ValueShape_VALUE_SHAPE_DECIMAL
	shapeInt    = shadowdiffv1.ValueShape_VALUE_SHAPE_INTEGER
	candidateID = shadowdiffv1.Role_ROLE_CANDIDATE
)

// orderFields is the body of GET /api/orders/{id} as role answers request i.
func orderFields(i int, role shadowdiffv1.Role, stamp string) []fieldSpec {
	total := "10.5"
	if role == candidateID {
		total = "10.50"
	}
	return []fieldSpec{
		{"order.id", typNumber, shapeInt, fmt.Sprint(1000 + i), true},
		{"order.total", typString, shapeText, total, true},
		{"items[].sku", typString, shapeText, "SKU-1", false},
		{"meta.generated_at", typString, shapeTime, stamp, false},
	}
}

// seedDigests returns the digests of the seeded traffic, the oldest
// request at start, one every millisecond; each triple is whole, so the
// engine pairs it at once. The incomplete requests follow in
// seedIncompleteDigests: they close only when their pairing window ends.
func seedDigests(start time.Time) []*shadowdiffv1.ResponseDigest {
	var out []*shadowdiffv1.ResponseDigest
	for i := 0; i < seedRequests; i++ {
		for ep, path := range []string{seedOrdersPath, seedTimePath, seedProdPath} {
			t := start.Add(time.Duration(i*4+ep) * time.Millisecond)
			key := fmt.Sprintf("req-%d-%04d", ep, i)
			reqPath := path
			if path == seedOrdersPath {
				reqPath = fmt.Sprint(path, 1000+i)
			}
			for r, role := range roles {
				// Per-side timestamps make the noise: every side differs.
				stamp := t.Add(time.Duration(r) * time.Microsecond).Format(time.RFC3339Nano)
				var fields []fieldSpec
				switch path {
				case seedOrdersPath:
					fields = orderFields(i, role, stamp)
				case seedTimePath:
					flag := "false"
					if role == candidateID && i%100 == 7 {
						flag = "true"
					}
					fields = []fieldSpec{{"now", typString, shapeTime, stamp, false}, {"flag", typString, shapeText, flag, true}}
				default:
					fields = []fieldSpec{{"[].name", typString, shapeText, "chair", true}, {"[].price", typNumber, shapeDec, "49.9", false}}
				}
				out = append(out, digest(key, role, "GET", reqPath, t, fields, stamp))
			}
		}
		if i < seedSideEffects {
			out = append(out, sideEffectTriple(i, start.Add(time.Duration(i*4+3)*time.Millisecond))...)
		}
	}
	return out
}

// sideEffectTriple is a POST the shadow filters answered locally: the
// primary reports its response, the shadows report skip = side effect.
func sideEffectTriple(i int, t time.Time) []*shadowdiffv1.ResponseDigest {
	key := fmt.Sprintf("req-post-%04d", i)
	stamp := t.Format(time.RFC3339Nano)
	var out []*shadowdiffv1.ResponseDigest
	for _, role := range roles {
		d := digest(key, role, "POST", seedPostPath, t, []fieldSpec{{"order.id", typNumber, shapeInt, fmt.Sprint(5000 + i), true}}, stamp)
		if role != shadowdiffv1.Role_ROLE_PRIMARY {
			d.Skip = shadowdiffv1.SkipReason_SKIP_REASON_SIDE_EFFECT
			d.Status = 204
			d.Headers, d.Body = nil, nil
		}
		out = append(out, d)
	}
	return out
}

// seedIncompleteDigests are GET /api/orders/{id} requests the candidate
// never answered: 5 without its digest, 2 whose digest says no response.
func seedIncompleteDigests(start time.Time) []*shadowdiffv1.ResponseDigest {
	var out []*shadowdiffv1.ResponseDigest
	for j := 0; j < seedIncomplete; j++ {
		i := seedRequests + j
		t := start.Add(time.Duration(i*4) * time.Millisecond)
		key := fmt.Sprintf("req-lost-%04d", j)
		path := fmt.Sprint(seedOrdersPath, 1000+i)
		for r, role := range roles {
			stamp := t.Add(time.Duration(r) * time.Microsecond).Format(time.RFC3339Nano)
			d := digest(key, role, "GET", path, t, orderFields(i, role, stamp), stamp)
			if role == candidateID {
				if j < 5 {
					continue
				}
				d.Skip = shadowdiffv1.SkipReason_SKIP_REASON_NO_RESPONSE
				d.Status = 0
				d.Headers, d.Body = nil, nil
			}
			out = append(out, d)
		}
	}
	return out
}
