package cli

import (
	"fmt"
	"hash/fnv"
	"time"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// The seeded traffic: each endpoint gets seedRequests requests, each seen
// by the primary, the secondary and the candidate.
const (
	seedRequests = 240
	ordersPath   = "/api/orders/{id}"
	timePath     = "/api/time"
	productsPath = "/api/products"

	regressedField = "body.order.total" // the candidate answers "10.50" instead of "10.00"
	noiseField     = "body.meta.generated_at"
)

// seedBase is the fixed start of the seeded traffic, so outputs are stable.
var seedBase = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func str(path, value string, raw bool) *shadowdiffv1.FieldEntry {
	e := &shadowdiffv1.FieldEntry{Path: path, Type: shadowdiffv1.JsonType_JSON_TYPE_STRING,
		Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_TEXT, ValueHash: hash(value), UnorderedHash: hash(value),
		Occurrences: 1, LengthBucket: bucket(len(value))}
	if raw {
		e.RawValue = &value
	}
	return e
}

func timestampField(path, value string) *shadowdiffv1.FieldEntry {
	e := str(path, value, false)
	e.Shape = shadowdiffv1.ValueShape_VALUE_SHAPE_TIMESTAMP
	return e
}

func num(path string, n int) *shadowdiffv1.FieldEntry {
	v := fmt.Sprint(n)
	return &shadowdiffv1.FieldEntry{Path: path, Type: shadowdiffv1.JsonType_JSON_TYPE_NUMBER,
		Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_INTEGER, ValueHash: hash(v), UnorderedHash: hash(v), Occurrences: 1}
}

func obj(path, canonical string) *shadowdiffv1.FieldEntry {
	return &shadowdiffv1.FieldEntry{Path: path, Type: shadowdiffv1.JsonType_JSON_TYPE_OBJECT,
		ValueHash: hash(canonical), UnorderedHash: hash(canonical), Occurrences: 1}
}

func bucket(n int) uint32 {
	b := uint32(0)
	for n > 0 {
		b++
		n >>= 1
	}
	return b
}

// jsonBody builds a JSON body digest from its fields; the body hash covers
// every field's value.
func jsonBody(fields ...*shadowdiffv1.FieldEntry) *shadowdiffv1.BodyDigest {
	h := fnv.New64a()
	for _, f := range fields {
		fmt.Fprintf(h, "%s=%x;", f.Path, f.ValueHash)
	}
	return &shadowdiffv1.BodyDigest{ContentType: "application/json", Kind: shadowdiffv1.BodyKind_BODY_KIND_JSON,
		WireSize: 120, DecodedSize: 120, Hash: h.Sum64(), Fields: fields}
}

// respond returns the body an endpoint's role answers to request i.
type respond func(role shadowdiffv1.Role, i int) *shadowdiffv1.BodyDigest

func ordersBody(role shadowdiffv1.Role, i int) *shadowdiffv1.BodyDigest {
	total := "10.00"
	if role == shadowdiffv1.Role_ROLE_CANDIDATE {
		total = "10.50"
	}
	return jsonBody(obj("", "order:"+total), obj("order", total), num("order.id", i), str("order.total", total, true))
}

func timeBody(role shadowdiffv1.Role, i int) *shadowdiffv1.BodyDigest {
	// Every copy stamps its own clock: noise, in the secondary as in the candidate.
	generated := seedBase.Add(time.Duration(i)*time.Second + time.Duration(role)*time.Millisecond).Format(time.RFC3339Nano)
	return jsonBody(obj("", "time:"+generated), obj("meta", generated), timestampField("meta.generated_at", generated), str("zone", "UTC", true))
}

func productsBody(shadowdiffv1.Role, int) *shadowdiffv1.BodyDigest {
	return jsonBody(obj("", "products"), str("name", "teapot", true), num("stock", 7))
}

// seedEndpoint makes the three digests of n requests to path (whose
// "{id}" is replaced by the request number), keyed prefix-0000, ...
func seedEndpoint(prefix, path string, n int, respond respond) []*shadowdiffv1.ResponseDigest {
	var out []*shadowdiffv1.ResponseDigest
	roles := []shadowdiffv1.Role{shadowdiffv1.Role_ROLE_PRIMARY, shadowdiffv1.Role_ROLE_SECONDARY, shadowdiffv1.Role_ROLE_CANDIDATE}
	versions := map[shadowdiffv1.Role]string{roles[0]: "v1", roles[1]: "v1", roles[2]: "v2"}
	for i := range n {
		concrete := path
		if len(path) > 4 && path[len(path)-4:] == "{id}" {
			concrete = fmt.Sprintf("%s%d", path[:len(path)-4], 1000+i)
		}
		start := seedBase.Add(time.Duration(i) * 100 * time.Millisecond)
		for _, r := range roles {
			out = append(out, &shadowdiffv1.ResponseDigest{
				PairingKey: fmt.Sprintf("%s-%04d", prefix, i),
				Role:       r,
				Workload:   &shadowdiffv1.Workload{Name: "shop", Namespace: "demo", Version: versions[r], Instance: "shop-" + role(r)},
				Endpoint:   &shadowdiffv1.EndpointRef{Method: "GET", Path: concrete, Authority: "shop"},
				Request:    &shadowdiffv1.RequestFingerprint{Method: "GET", Path: concrete},
				Status:     200,
				Headers: []*shadowdiffv1.HeaderDigest{{Name: "content-type", ValueHash: hash("application/json"),
					Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_TEXT}},
				Body:                  respond(r, i),
				UpstreamLatencyMicros: 1500,
				StartUnixNanos:        start.UnixNano(),
				Shadow:                r != shadowdiffv1.Role_ROLE_PRIMARY,
			})
		}
	}
	return out
}

// seedTraffic is the whole seeded traffic, in a fixed order.
func seedTraffic() []*shadowdiffv1.ResponseDigest {
	var out []*shadowdiffv1.ResponseDigest
	out = append(out, seedEndpoint("orders", ordersPath, seedRequests, ordersBody)...)
	out = append(out, seedEndpoint("time", timePath, seedRequests, timeBody)...)
	out = append(out, seedEndpoint("products", productsPath, seedRequests, productsBody)...)
	return out
}
