package server

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// vtCodec is gRPC's proto codec with a fast path for messages that carry
// vtprotobuf's generated methods (proto/shadowdiff/v1/*_vtproto.pb.go):
// decoding digest batches without reflection is several times cheaper,
// and ingest is where the collector spends its CPU; digest batches go
// through unmarshalBatch, which allocates far less. Other messages (health,
// reflection) go through the standard codec.
type vtCodec struct{ std encoding.CodecV2 }

type vtMessage interface {
	MarshalVT() ([]byte, error)
	UnmarshalVT([]byte) error
}

func newVTCodec() vtCodec { return vtCodec{std: encoding.GetCodecV2(proto.Name)} }

func (vtCodec) Name() string { return proto.Name }

func (c vtCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(vtMessage)
	if !ok {
		return c.std.Marshal(v)
	}
	b, err := m.MarshalVT()
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (c vtCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(vtMessage)
	if !ok {
		return c.std.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if b, ok := v.(*shadowdiffv1.DigestBatch); ok {
		return unmarshalBatch(buf.ReadOnlyData(), b)
	}
	return m.UnmarshalVT(buf.ReadOnlyData())
}
