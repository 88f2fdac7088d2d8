package engine

import (
	"context"
	"fmt"
	"strings"
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

// withoutBodyFields is a digest as the server passes it with its encoding.
func withoutBodyFields(t *testing.T, d *shadowdiffv1.ResponseDigest) (*shadowdiffv1.ResponseDigest, []byte) {
	t.Helper()
	wire, err := d.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	c := d.CloneVT()
	c.Body.Fields = nil
	return c, wire
}

// Digests that come without their body fields are diffed, stored and
// validated on the fields read from their encodings.
func TestIngestEncodedReadsBodyFields(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	e := openEngine(t, dir, clk, Options{})
	p, pw := withoutBodyFields(t, at(clk, dg("k1", primary, "/x", 200, f{"b", tStr, sText, "2"}, f{"a", tStr, sText, "1"})))
	if n, rej, err := e.IngestEncoded(context.Background(), []*shadowdiffv1.ResponseDigest{p}, [][]byte{pw}); err != nil || n != 1 || len(rej) != 0 {
		t.Fatalf("IngestEncoded: %d %v %v", n, rej, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openEngine(t, dir, clk, Options{})
	defer e.Close()
	c, cw := withoutBodyFields(t, at(clk, dg("k1", candidate, "/x", 200, f{"a", tStr, sText, "1"}, f{"b", tStr, sText, "3"})))
	if n, rej, err := e.IngestEncoded(context.Background(), []*shadowdiffv1.ResponseDigest{c}, [][]byte{cw}); err != nil || n != 1 || len(rej) != 0 {
		t.Fatalf("IngestEncoded: %d %v %v", n, rej, err)
	}
	rec, err := e.QueryServer().GetRequest(context.Background(), &shadowdiffv1.GetRequestRequest{PairingKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, d := range rec.Differences {
		paths = append(paths, d.Path+"="+d.Kind.String())
		if d.Left.GetPath() != "b" || d.Right.GetPath() != "b" {
			t.Errorf("difference entries %v / %v", d.Left, d.Right)
		}
	}
	if len(paths) != 1 || paths[0] != "body.b=DIFF_KIND_VALUE" {
		t.Errorf("differences = %v, want body.b by value", paths)
	}

	// The fields read from the encoding are validated like a digest's.
	dup, dupWire := withoutBodyFields(t, at(clk, dg("k2", primary, "/x", 200, f{"a", tStr, sText, "1"}, f{"a", tStr, sText, "2"})))
	bad, _ := withoutBodyFields(t, at(clk, dg("k3", primary, "/x", 200, f{"a", tStr, sText, "1"})))
	n, rej, err := e.IngestEncoded(context.Background(), []*shadowdiffv1.ResponseDigest{dup, bad}, [][]byte{dupWire, {0xff}})
	if err != nil || n != 0 || len(rej) != 2 {
		t.Fatalf("IngestEncoded of bad digests: %d %v %v", n, rej, err)
	}
	if !strings.Contains(rej[0].Reason, `path "a" listed twice`) || !strings.Contains(rej[1].Reason, "body.fields: undecodable") {
		t.Errorf("reasons = %q, %q", rej[0].Reason, rej[1].Reason)
	}
}

// The fields of closed requests are recycled for the next digests read,
// except those the repeat cache keeps: without a secondary, the primary of
// a repeated request is compared with the previous one, which must still
// hold its own values when the next requests come.
func TestRecycledFieldsKeepRepeatedPrimaries(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	send := func(d *shadowdiffv1.ResponseDigest) {
		t.Helper()
		m, wire := withoutBodyFields(t, at(clk, d))
		if n, rej, err := e.IngestEncoded(context.Background(), []*shadowdiffv1.ResponseDigest{m}, [][]byte{wire}); err != nil || n != 1 || len(rej) != 0 {
			t.Fatalf("IngestEncoded: %d %v %v", n, rej, err)
		}
	}
	// Two repeats of the same request: b varies between them on the
	// primary (noise learnt from repeats), a never does.
	for i, b := range []string{"x", "y"} {
		key := fmt.Sprintf("k%d", i)
		send(dg(key, primary, "/x", 200, f{"a", tStr, sText, "1"}, f{"b", tStr, sText, b}))
		send(dg(key, candidate, "/x", 200, f{"a", tStr, sText, "1"}, f{"b", tStr, sText, b}))
	}
	fields, err := e.QueryServer().ListFields(context.Background(), &shadowdiffv1.ListFieldsRequest{Endpoint: "GET /x"})
	if err != nil {
		t.Fatal(err)
	}
	noise := map[string]uint64{}
	for _, fs := range fields.Fields {
		noise[fs.Path] = fs.NoiseDifferences
	}
	if noise["body.b"] == 0 || noise["body.a"] != 0 {
		t.Errorf("noise learnt from repeats = %v, want some on body.b, none on body.a", noise)
	}
}

// The engine's own scratch for full digests' fields never reaches the
// field pool: a primary without body fields, kept by the repeat cache,
// once took the scratch with it (empty, but with its capacity), and each
// later repeat handed it to the pool again, so that pending digests and
// the next request's diff shared one array.
func TestFinalizeScratchStaysOutOfThePool(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	var fs []f
	for i := range 8 {
		fs = append(fs, f{fmt.Sprintf("f%d", i), tStr, sText, "v"})
	}
	// Full digests (not encoded) grow the scratch; then repeats whose
	// primary has no body fields.
	ingest(t, e, at(clk, dg("a", primary, "/a", 200, fs...)), at(clk, dg("a", candidate, "/a", 200, fs...)))
	for i := range 3 {
		k := fmt.Sprintf("b%d", i)
		ingest(t, e, at(clk, dg(k, primary, "/b", 200)), at(clk, dg(k, candidate, "/b", 200)))
	}
	send := func(d *shadowdiffv1.ResponseDigest) {
		t.Helper()
		m, wire := withoutBodyFields(t, at(clk, d))
		if n, rej, err := e.IngestEncoded(context.Background(), []*shadowdiffv1.ResponseDigest{m}, [][]byte{wire}); err != nil || n != 1 || len(rej) != 0 {
			t.Fatalf("IngestEncoded: %d %v %v", n, rej, err)
		}
	}
	vals := func(v string) []f {
		var out []f
		for i := range 8 {
			out = append(out, f{fmt.Sprintf("g%d", i), tStr, sText, v})
		}
		return out
	}
	send(dg("k1", primary, "/c", 200, vals("1")...))
	send(dg("k2", primary, "/c", 200, vals("2")...))
	send(dg("k1", candidate, "/c", 200, vals("1")...))
	rec, err := e.QueryServer().GetRequest(context.Background(), &shadowdiffv1.GetRequestRequest{PairingKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Differences) != 0 {
		t.Errorf("identical primary and candidate differ in %d fields: %v", len(rec.Differences), rec.Differences)
	}
}
