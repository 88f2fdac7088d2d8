package engine

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// A digest ingested with its wire form is stored as that form: after a
// restart the pending request has the digest as sent, and it pairs as
// usual.
func TestIngestEncodedStoresWireForm(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	e := openEngine(t, dir, clk, Options{})
	p := at(clk, dg("k1", primary, "/x", 200, f{"b", tStr, sText, "2"}, f{"a", tStr, sText, "1"}))
	// The stored form is the one given, not the message encoded again:
	// to tell them apart, the encoding carries another latency.
	want := p.CloneVT()
	want.UpstreamLatencyMicros = 1234
	wire, err := want.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	sortDigest(want)
	if _, _, err := e.IngestEncoded(context.Background(), []*shadowdiffv1.ResponseDigest{p}, nil); err == nil {
		t.Fatal("IngestEncoded without an encoding per digest succeeded")
	}
	n, rej, err := e.IngestEncoded(context.Background(), []*shadowdiffv1.ResponseDigest{p}, [][]byte{wire})
	if err != nil || n != 1 || len(rej) != 0 {
		t.Fatalf("IngestEncoded: %d %v %v", n, rej, err)
	}
	clear(wire) // the engine does not keep it
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = openEngine(t, dir, clk, Options{})
	defer e.Close()
	rec, err := e.QueryServer().GetRequest(context.Background(), &shadowdiffv1.GetRequestRequest{PairingKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(rec.Primary, want) {
		t.Fatalf("pending primary after restart = %v, want %v", rec.Primary, want)
	}
	ingest(t, e, at(clk, dg("k1", candidate, "/x", 200, f{"a", tStr, sText, "1"}, f{"b", tStr, sText, "3"})))
	if got := counts(endpointsOf(t, e)["GET /x"]); got != "req=1 cmp=1 skip=0 inc=0(p0 s0 c0) fm=0 dup=0 raw=1 noise=0 reg=1" {
		t.Errorf("summary = %s", got)
	}
}
