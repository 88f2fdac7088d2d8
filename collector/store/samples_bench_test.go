package store

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkApplyWideSample writes a request sampled on n fields, with one
// sample per field: the first fills the groups, the next evicts every
// sample of the one before. The index's list of a request's samples was
// copied at each of them, making a transaction quadratic in n.
func BenchmarkApplyWideSample(b *testing.B) {
	for _, n := range []int{100, 1000, 4000} {
		b.Run(fmt.Sprintf("fields=%d", n), func(b *testing.B) {
			s := openTest(b, b.TempDir(), 1)
			defer s.Close()
			paths := make([]string, n)
			for i := range paths {
				paths[i] = fmt.Sprintf("body.sessions.s%05d", i)
			}
			t0 := time.Unix(1_800_000_000, 0)
			for i := range b.N {
				if err := s.Apply(sampled(fmt.Sprint("k", i), "GET /wide", t0.Add(time.Duration(i)*time.Second), paths...)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
