package server

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

// Tiers of the receive buffer pool: powers of two from 256 B to 1 MiB.
const (
	minPoolShift = 8
	maxPoolShift = 20
)

// dirtyPool is the gRPC server's buffer pool. Unlike gRPC's default it does
// not clear a buffer it hands out again (2% of ingest's CPU): the
// transport reads each frame's payload into a buffer of its length, in
// full, before anything reads from it.
type dirtyPool struct {
	tiers [maxPoolShift + 1]sync.Pool // tiers[i] holds *[]byte of capacity >= 1<<i
}

var _ mem.BufferPool = (*dirtyPool)(nil)

func (p *dirtyPool) Get(length int) *[]byte {
	if length > 1<<maxPoolShift {
		b := make([]byte, length)
		return &b
	}
	tier := minPoolShift
	if length > 1<<minPoolShift {
		tier = bits.Len(uint(length - 1)) // the smallest power of two >= length
	}
	if b, ok := p.tiers[tier].Get().(*[]byte); ok {
		*b = (*b)[:length]
		return b
	}
	b := make([]byte, length, 1<<tier)
	return &b
}

func (p *dirtyPool) Put(b *[]byte) {
	c := cap(*b)
	if c < 1<<minPoolShift || c >= 1<<(maxPoolShift+1) {
		return
	}
	p.tiers[bits.Len(uint(c))-1].Put(b) // the largest power of two <= c
}
