package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// countingIngester accepts everything: the benchmark measures the server
// and gRPC, not a store.
type countingIngester struct{ n int }

func (c *countingIngester) Ingest(_ context.Context, ds []*shadowdiffv1.ResponseDigest) (int, []*shadowdiffv1.Rejection, error) {
	c.n += len(ds)
	return len(ds), nil, nil
}

// fiftyFieldDigests are digests with 50 JSON fields each, like a mid-size
// API response.
func fiftyFieldDigests(n int) []*shadowdiffv1.ResponseDigest {
	ds := digests(n, shadowdiffv1.Role_ROLE_CANDIDATE)
	for _, d := range ds {
		d.Body = &shadowdiffv1.BodyDigest{ContentType: "application/json", Kind: shadowdiffv1.BodyKind_BODY_KIND_JSON, WireSize: 2048}
		for f := range 50 {
			d.Body.Fields = append(d.Body.Fields, &shadowdiffv1.FieldEntry{
				Path: fmt.Sprintf("items[].field%02d", f), Type: shadowdiffv1.JsonType_JSON_TYPE_STRING,
				Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_TEXT, ValueHash: uint64(f) * 0x9e3779b97f4a7c15,
				UnorderedHash: uint64(f), Occurrences: 3, LengthBucket: 4,
			})
		}
	}
	return ds
}

// BenchmarkIngestStream sends 64-digest batches (the filter's default) over
// one stream on loopback and waits for each ack; reports digests/s.
func BenchmarkIngestStream(b *testing.B) {
	for _, size := range []int{64, 512} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			r := start(b, &countingIngester{}, fixedQuery{}, Options{})
			stream, err := shadowdiffv1.NewCollectorClient(r.conn).Ingest(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			batch := fiftyFieldDigests(size)
			b.ResetTimer()
			for i := range b.N {
				if err := stream.Send(&shadowdiffv1.DigestBatch{Sequence: uint64(i + 1), Digests: batch}); err != nil {
					b.Fatal(err)
				}
				if _, err := stream.Recv(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "digests/s")
			b.StopTimer()
		})
	}
}

// BenchmarkUnmarshalBatch is the floor of the server's cost per batch: the
// protobuf decoding before the handler runs, with the reflection-based
// decoder, the generated vtprotobuf one, and the server's (unmarshalBatch;
// "ingest" is what an Ingest stream decodes for the engine: digests with a
// workload and headers, their body fields left to the engine).
func BenchmarkUnmarshalBatch(b *testing.B) {
	wire, err := proto.Marshal(&shadowdiffv1.DigestBatch{Sequence: 1, Digests: fiftyFieldDigests(64)})
	if err != nil {
		b.Fatal(err)
	}
	triple := &shadowdiffv1.DigestBatch{Sequence: 1}
	for k := range 64 {
		triple.Digests = append(triple.Digests, tripleDigest(k, shadowdiffv1.Role_ROLE_CANDIDATE, time.Now()))
	}
	ingest, err := proto.Marshal(triple)
	if err != nil {
		b.Fatal(err)
	}
	for _, dec := range []struct {
		name string
		wire []byte
		fn   func([]byte, *shadowdiffv1.DigestBatch) error
	}{
		{"proto", wire, func(w []byte, m *shadowdiffv1.DigestBatch) error { return proto.Unmarshal(w, m) }},
		{"vtproto", wire, func(w []byte, m *shadowdiffv1.DigestBatch) error { return m.UnmarshalVT(w) }},
		{"server", wire, func(w []byte, m *shadowdiffv1.DigestBatch) error { _, err := unmarshalBatch(w, m); return err }},
		{"ingest-vtproto", ingest, func(w []byte, m *shadowdiffv1.DigestBatch) error { return m.UnmarshalVT(w) }},
		{"ingest-server", ingest, func(w []byte, m *shadowdiffv1.DigestBatch) error {
			_, _, _, err := decodeBatch(w, m, true, 0)
			return err
		}},
	} {
		b.Run(dec.name, func(b *testing.B) {
			b.SetBytes(int64(len(dec.wire)))
			b.ReportAllocs()
			for b.Loop() {
				var m shadowdiffv1.DigestBatch
				if err := dec.fn(dec.wire, &m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "digests/s")
		})
	}
}
