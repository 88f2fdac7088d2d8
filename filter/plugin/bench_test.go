package plugin_test

import (
	"strconv"
	"strings"
	"testing"
)

// BenchmarkPrimaryStream is one primary request through the plugin on the
// SDK's emulator: headers, a 13 KB JSON body in 4 chunks, the digest at
// stream end and its share of batching.
func BenchmarkPrimaryStream(b *testing.B) {
	t := &testing.T{}
	e := start(t, `{"role":"primary","batch":{"max_digests":64}}`)
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := range 100 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"id":` + strconv.Itoa(i) + `,"name":"widget number one","price":19.99,"tags":["a","b"],"in_stock":true}`)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	q := len(body) / 4
	chunks := [][]byte{body[:q], body[q : 2*q], body[2*q : 3*q], body[3*q:]}
	b.SetBytes(int64(len(body)))
	i := 0
	for b.Loop() {
		i++
		e.run(exchange{reqHeaders: get("/catalog/items", strconv.Itoa(i)), respHeaders: jsonResponse(), respBody: chunks})
		if i%64 == 0 {
			e.coll.batches = e.coll.batches[:0]
		}
	}
}
