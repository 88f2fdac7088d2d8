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
// through unmarshalBatch, which allocates far less (and the Ingest stream
// receives wireBatch, which also keeps each digest's encoding). Other
// messages (health, reflection) go through the standard codec. A request
// (requests.go) gets its decoding error recorded instead of returned.
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
	if r, ok := v.(*request); ok {
		r.err = c.Unmarshal(data, r.msg)
		return nil
	}
	m, ok := v.(vtMessage)
	if !ok {
		return c.std.Unmarshal(data, v)
	}
	if w, ok := v.(*wireBatch); ok {
		return w.receive(data)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if b, ok := v.(*shadowdiffv1.DigestBatch); ok {
		_, err := unmarshalBatch(buf.ReadOnlyData(), b)
		return err
	}
	return m.UnmarshalVT(buf.ReadOnlyData())
}

// wireBatch is a DigestBatch received with the encoding of each digest
// (slices of the data it was decoded from), for an EncodedIngester. The
// data is gRPC's frames or a copy, with buffers from pool, which free
// returns once the batch is done with (the decoded messages do not refer
// to it).
type wireBatch struct {
	// skipFields leaves the digests' body fields out of batch: the
	// EncodedIngester reads them from wire.
	skipFields bool
	// maxDigests, when > 0, is the most digests decoded: a batch with
	// more is decoded without them, and over is their number.
	maxDigests int
	over       int
	// undecodable are the digests left out of batch: they could not be
	// decoded, the rest of the batch could.
	undecodable []undecodable
	// malformed is why the batch could not be decoded. The codec does
	// not return it: gRPC would send it as Internal, and a malformed
	// batch is the sender's error (InvalidArgument).
	malformed error
	pool      mem.BufferPool
	batch     *shadowdiffv1.DigestBatch
	wire      [][]byte
	buf       *[]byte
	// frames holds gRPC's buffers the wire slices point into, when the
	// batch was decoded where it arrived (receiveInPlace).
	frames mem.BufferSlice
}

// receive decodes data, where it arrived or copied into a buffer of the
// pool; a batch that cannot be decoded is left empty, with malformed set.
func (w *wireBatch) receive(data mem.BufferSlice) error {
	if w.receiveInPlace(data) {
		return nil
	}
	bp := w.pool.Get(data.Len())
	data.CopyTo(*bp)
	w.buf = bp
	if err := w.UnmarshalVT(*bp); err != nil {
		w.free()
		w.batch, w.malformed = &shadowdiffv1.DigestBatch{}, err
	}
	return nil
}

// receiveInPlace decodes data in gRPC's buffers, which it keeps until
// free (see splitSegments). It is false, having kept nothing, for a batch
// the joined decoding is to read: unusual, over the digest limit, or
// malformed (whose error that decoding words).
func (w *wireBatch) receiveInPlace(data mem.BufferSlice) bool {
	segs := make([][]byte, len(data))
	for i, b := range data {
		segs[i] = b.ReadOnlyData()
	}
	spill := w.pool.Get(32 << 10) // room for a batch's split digests
	digests, rest, ok := splitSegments(segs, batchDigests, spill)
	if ok && (w.maxDigests <= 0 || len(digests) <= w.maxDigests) {
		batch := &shadowdiffv1.DigestBatch{}
		wire, bad, err := decodeSplit(digests, rest, batch, w.skipFields)
		if err == nil {
			data.Ref()
			w.frames, w.buf, w.batch, w.wire, w.undecodable = data, spill, batch, wire, bad
			return true
		}
	}
	w.pool.Put(spill)
	return false
}

// free returns the received data to its pool; wire is invalid then.
func (w *wireBatch) free() {
	if w.buf != nil {
		w.pool.Put(w.buf)
		w.buf, w.wire = nil, nil
	}
	if w.frames != nil {
		w.frames.Free()
		w.frames, w.wire = nil, nil
	}
}

func (w *wireBatch) UnmarshalVT(data []byte) error {
	w.batch = &shadowdiffv1.DigestBatch{}
	var err error
	w.wire, w.undecodable, w.over, err = decodeBatch(data, w.batch, w.skipFields, w.maxDigests)
	return err
}

func (w *wireBatch) MarshalVT() ([]byte, error) { return w.batch.MarshalVT() }
