package server

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// encodedIngester checks that each digest comes with its encoding, and
// without its body fields.
type encodedIngester struct {
	memIngester
	t     *testing.T
	calls int
}

func (e *encodedIngester) IngestEncoded(ctx context.Context, ds []*shadowdiffv1.ResponseDigest, wire [][]byte) (int, []*shadowdiffv1.Rejection, error) {
	e.calls++
	if len(wire) != len(ds) {
		e.t.Errorf("%d encodings for %d digests", len(wire), len(ds))
	}
	for i, w := range wire {
		var d shadowdiffv1.ResponseDigest
		err := d.UnmarshalVT(w)
		if err != nil || len(d.GetBody().GetFields()) == 0 || len(ds[i].GetBody().GetFields()) != 0 {
			e.t.Errorf("encoding %d (%v) should have the body fields, the digest not", i, err)
			continue
		}
		d.Body.Fields = nil
		if !proto.Equal(&d, ds[i]) {
			e.t.Errorf("encoding %d decodes to %v without body fields, want %v", i, &d, ds[i])
		}
	}
	return e.Ingest(ctx, ds)
}

func TestIngestStreamPassesEncodings(t *testing.T) {
	ing := &encodedIngester{t: t}
	r := start(t, ing, fixedQuery{}, Options{})
	stream, err := shadowdiffv1.NewCollectorClient(r.conn).Ingest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 2; seq++ {
		if err := stream.Send(&shadowdiffv1.DigestBatch{Sequence: seq, Digests: fiftyFieldDigests(3)}); err != nil {
			t.Fatal(err)
		}
		if ack, err := stream.Recv(); err != nil || ack.GetAccepted() != 3 {
			t.Fatalf("ack %v, %v", ack, err)
		}
	}
	if n, _ := ing.count(); ing.calls != 2 || n != 6 {
		t.Errorf("IngestEncoded called %d times for %d digests, want 2 calls and 6 digests", ing.calls, n)
	}
}
