package testenv

import (
	"fmt"
	"strings"
)

// JSONBody is an API-like JSON document of about size bytes: an array of
// objects with strings, numbers, booleans, an array and a nested object.
// The harness benchmarks proxy and digest it.
func JSONBody(size int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"page":1,"items":[`)
	for i := 0; sb.Len() < size-64; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":%d,"name":"widget %d","price":%d.99,"in_stock":%t,"tags":["a","b"],"dims":{"w":%d,"h":3}}`,
			i, i, 10+i%90, i%3 != 0, i%7)
	}
	sb.WriteString(`],"total":12345,"next":"/items?page=2"}`)
	return []byte(sb.String())
}
