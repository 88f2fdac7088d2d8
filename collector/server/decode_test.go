package server

import (
	"bytes"
	"math"
	"testing"
	"time"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// decodeBoth decodes data with unmarshalBatch and with the generated
// decoder and fails unless both fail or both give equal messages, and
// checks the digests one by one (decodeAlone).
func decodeBoth(t *testing.T, data []byte) *shadowdiffv1.DigestBatch {
	t.Helper()
	decodeAlone(t, data)
	decodeSplitAsJoined(t, data)
	var fast, want shadowdiffv1.DigestBatch
	// A copy that is overwritten once decoded, like the pooled receive
	// buffer: the decoded strings must not refer to it.
	buf := bytes.Clone(data)
	wire, errFast := unmarshalBatch(buf, &fast)
	errWant := want.UnmarshalVT(data)
	if (errFast == nil) != (errWant == nil) {
		t.Fatalf("unmarshalBatch error %v, UnmarshalVT error %v", errFast, errWant)
	}
	if errWant != nil {
		return nil
	}
	if !proto.Equal(&fast, &want) {
		t.Fatalf("unmarshalBatch differs from UnmarshalVT:\n got %v\nwant %v", &fast, &want)
	}
	checkWire(t, wire, &want)
	scribble(buf)
	if !proto.Equal(&fast, &want) {
		t.Fatalf("unmarshalBatch refers to its input, overwritten:\n got %v\nwant %v", &fast, &want)
	}
	// Without body fields, for an EncodedIngester.
	var slim shadowdiffv1.DigestBatch
	copy(buf, data)
	if _, _, _, err := decodeBatch(buf, &slim, true, 0); err != nil {
		t.Fatalf("decodeBatch without fields: %v", err)
	}
	scribble(buf)
	for _, d := range want.Digests {
		if d.GetBody() != nil {
			d.Body.Fields = nil
		}
	}
	if !proto.Equal(&slim, &want) {
		// The generated code decodes what protowire refuses, fields and all.
		for _, d := range slim.Digests {
			if d.GetBody() != nil {
				d.Body.Fields = nil
			}
		}
		if !proto.Equal(&slim, &want) {
			t.Fatalf("decodeBatch without fields differs:\n got %v\nwant %v", &slim, &want)
		}
	}
	return &fast
}

// decodeAlone checks the bounded decoding of a batch whose digests can be
// told apart (the Ingest stream's and Report's): a digest left out as
// undecodable is one the generated code refuses on its own, and every
// other one decodes as the generated code decodes it on its own (without
// its body fields, the Ingest stream's case, it may be one whose field
// entries the generated code refuses: the engine reads them).
func decodeAlone(t *testing.T, data []byte) {
	t.Helper()
	for _, skip := range []bool{false, true} {
		var m shadowdiffv1.DigestBatch
		wire, bad, _, err := decodeBatch(bytes.Clone(data), &m, skip, math.MaxInt)
		if err != nil {
			continue // refused whole
		}
		i, next := 0, 0
		for p := range payloads(data, batchDigests) {
			var want shadowdiffv1.ResponseDigest
			errWant := want.UnmarshalVT(p)
			switch {
			case len(bad) > 0 && bad[0].index == i:
				if errWant == nil {
					t.Fatalf("skipFields=%v: digest %d left out as undecodable (%v), the generated code decodes it", skip, i, bad[0].err)
				}
				bad = bad[1:]
			case next == len(m.Digests):
				t.Fatalf("skipFields=%v: digest %d neither decoded nor left out", skip, i)
			case errWant != nil && !skip:
				t.Fatalf("skipFields=%v: digest %d decoded, the generated code refuses it: %v", skip, i, errWant)
			default:
				got := m.Digests[next]
				if skip && errWant == nil {
					got, want.Body = got.CloneVT(), want.Body.CloneVT()
					if got.GetBody() != nil {
						got.Body.Fields, want.Body.Fields = nil, nil
					}
				}
				if errWant == nil && !proto.Equal(got, &want) {
					t.Fatalf("skipFields=%v: digest %d decodes to %v, alone to %v", skip, i, got, &want)
				}
				if !bytes.Equal(wire[next], p) {
					t.Fatalf("skipFields=%v: encoding of digest %d is not its bytes", skip, i)
				}
				next++
			}
			i++
		}
		if next != len(m.Digests) || len(bad) > 0 {
			t.Fatalf("skipFields=%v: %d digests decoded, %d left out, of %d", skip, len(m.Digests), len(bad), i)
		}
	}
}

// decodeSplitAsJoined checks that a batch split over segments, as gRPC
// hands one over frame by frame, decodes where it lies (when
// splitSegments reads it) as it does joined, and that the decoded digests
// do not refer to the segments.
func decodeSplitAsJoined(t *testing.T, data []byte) {
	t.Helper()
	for _, size := range []int{1, 7, 100, 16 << 10, len(data) + 1} {
		var segs [][]byte
		for rest := data; len(rest) > 0; rest = rest[min(size, len(rest)):] {
			segs = append(segs, bytes.Clone(rest[:min(size, len(rest))]))
		}
		var spill []byte
		digests, rest, ok := splitSegments(segs, batchDigests, &spill)
		if !ok {
			continue
		}
		for _, skip := range []bool{false, true} {
			var got, want shadowdiffv1.DigestBatch
			gotWire, gotBad, errGot := decodeSplit(digests, rest, &got, skip)
			wantWire, wantBad, _, errWant := decodeBatch(bytes.Clone(data), &want, skip, 0)
			if (errGot == nil) != (errWant == nil) {
				t.Fatalf("segments of %d: error %v, joined %v", size, errGot, errWant)
			}
			if errWant != nil {
				continue
			}
			if len(gotWire) != len(wantWire) || len(gotBad) != len(wantBad) {
				t.Fatalf("segments of %d: %d digests and %d undecodable, joined %d and %d", size, len(gotWire), len(gotBad), len(wantWire), len(wantBad))
			}
			for i := range gotWire {
				if !bytes.Equal(gotWire[i], wantWire[i]) || (gotWire[i] == nil) != (wantWire[i] == nil) {
					t.Fatalf("segments of %d: encoding of digest %d differs", size, i)
				}
			}
			for i := range gotBad {
				if gotBad[i].index != wantBad[i].index || gotBad[i].err.Error() != wantBad[i].err.Error() {
					t.Fatalf("segments of %d: undecodable %v, joined %v", size, gotBad[i], wantBad[i])
				}
			}
			for _, seg := range segs {
				scribble(seg)
			}
			if !proto.Equal(&got, &want) {
				t.Fatalf("segments of %d: decoded\n%v\njoined\n%v", size, &got, &want)
			}
			for _, seg := range segs {
				scribble(seg) // back, for the next decoding
			}
		}
	}
}

// scribble overwrites b, as the next batch received into a buffer does.
func scribble(b []byte) {
	for i := range b {
		b[i] ^= 0xa5
	}
}

// checkWire fails unless wire holds the encoding of each digest of want.
func checkWire(t *testing.T, wire [][]byte, want *shadowdiffv1.DigestBatch) {
	t.Helper()
	if len(wire) != len(want.Digests) {
		t.Fatalf("%d encodings for %d digests", len(wire), len(want.Digests))
	}
	for i, w := range wire {
		var d shadowdiffv1.ResponseDigest
		if err := d.UnmarshalVT(w); err != nil || !proto.Equal(&d, want.Digests[i]) {
			t.Fatalf("encoding of digest %d decodes to %v (%v), want %v", i, &d, err, want.Digests[i])
		}
	}
}

func marshal(t testing.TB, b *shadowdiffv1.DigestBatch) []byte {
	t.Helper()
	data, err := b.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestUnmarshalBatchMatchesGenerated(t *testing.T) {
	raw := "v1"
	ds := fiftyFieldDigests(3)
	ds[0].Body.Fields[4].RawValue = &raw
	ds[1].Headers = []*shadowdiffv1.HeaderDigest{{Name: "date", ValueHash: 7, RawValue: &raw}, {Name: "etag", ValueHash: 8}}
	ds[2].Body.Fields = nil
	plain := marshal(t, &shadowdiffv1.DigestBatch{Sequence: 9, Digests: ds, Dropped: 2})
	got := decodeBoth(t, plain)
	if n := len(got.Digests[0].Body.Fields); n != 50 || got.Digests[0].Body.Fields[7].Path != "items[].field07" {
		t.Fatalf("decoded %d fields, field 7 %q", n, got.Digests[0].Body.Fields[7].GetPath())
	}

	// An unknown field inside a field entry, a digest and the batch; a body
	// sent twice (merged); a field entry with a repeated path (last wins).
	entry := protowire.AppendTag(nil, 1, protowire.BytesType)
	entry = protowire.AppendString(entry, "a")
	entry = protowire.AppendTag(entry, 1, protowire.BytesType)
	entry = protowire.AppendString(entry, "b")
	entry = protowire.AppendTag(entry, 99, protowire.VarintType)
	entry = protowire.AppendVarint(entry, 5)
	body := protowire.AppendTag(nil, bodyFields, protowire.BytesType)
	body = protowire.AppendBytes(body, entry)
	body2 := protowire.AppendTag(nil, 6, protowire.VarintType)
	body2 = protowire.AppendVarint(body2, uint64(shadowdiffv1.BodyKind_BODY_KIND_JSON))
	body2 = protowire.AppendTag(body2, bodyFields, protowire.BytesType)
	body2 = protowire.AppendBytes(body2, entry[:3]) // path "a" only
	digest := marshal(t, &shadowdiffv1.DigestBatch{Digests: ds[:1]})
	_, _, n := protowire.ConsumeTag(digest)
	first, _ := protowire.ConsumeBytes(digest[n:])
	d := append([]byte(nil), first...)
	d = protowire.AppendTag(d, digestBody, protowire.BytesType)
	d = protowire.AppendBytes(d, body)
	d = protowire.AppendTag(d, digestBody, protowire.BytesType)
	d = protowire.AppendBytes(d, body2)
	d = protowire.AppendTag(d, 77, protowire.Fixed32Type)
	d = protowire.AppendFixed32(d, 1)
	batch := protowire.AppendTag(nil, batchDigests, protowire.BytesType)
	batch = protowire.AppendBytes(batch, d)
	batch = protowire.AppendTag(batch, 50, protowire.BytesType)
	batch = protowire.AppendString(batch, "future")
	got = decodeBoth(t, append(plain, batch...))
	fs := got.Digests[3].Body.Fields
	if len(fs) != 50+2 || fs[50].Path != "b" || fs[51].Path != "a" {
		t.Fatalf("merged body has %d fields", len(fs))
	}

	// Malformed input fails like the generated decoder, wherever it is.
	for cut := 1; cut < len(batch); cut += 7 {
		decodeBoth(t, append(plain, batch[:cut]...))
	}
	wrongType := protowire.AppendTag(nil, batchDigests, protowire.VarintType)
	decodeBoth(t, protowire.AppendVarint(wrongType, 1))
	badEntry := protowire.AppendTag(nil, 1, protowire.VarintType) // path with the wrong wire type
	badEntry = protowire.AppendVarint(badEntry, 1)
	badBody := protowire.AppendBytes(protowire.AppendTag(nil, bodyFields, protowire.BytesType), badEntry)
	badDigest := protowire.AppendBytes(protowire.AppendTag(nil, digestBody, protowire.BytesType), badBody)
	decodeBoth(t, protowire.AppendBytes(protowire.AppendTag(nil, batchDigests, protowire.BytesType), badDigest))
	// A body's last field entry one byte longer than the body.
	entry, err := (&shadowdiffv1.FieldEntry{Path: "a", ValueHash: 1}).MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	longBody := append(protowire.AppendTag(nil, bodyFields, protowire.BytesType), byte(len(entry)+1))
	longDigest := protowire.AppendBytes(protowire.AppendTag(nil, digestBody, protowire.BytesType), append(longBody, entry...))
	decodeBoth(t, protowire.AppendBytes(protowire.AppendTag(nil, batchDigests, protowire.BytesType), longDigest))
}

func FuzzUnmarshalBatch(f *testing.F) {
	ds := fiftyFieldDigests(2)
	raw := "x"
	ds[1].Body.Fields[0].RawValue = &raw
	f.Add(marshal(f, &shadowdiffv1.DigestBatch{Sequence: 1, Digests: ds}))
	f.Add(marshal(f, &shadowdiffv1.DigestBatch{Sequence: 2, Digests: digests(2, shadowdiffv1.Role_ROLE_PRIMARY), Dropped: 1}))
	f.Add(marshal(f, &shadowdiffv1.DigestBatch{Sequence: 3, Digests: []*shadowdiffv1.ResponseDigest{
		tripleDigest(1, shadowdiffv1.Role_ROLE_PRIMARY, time.Unix(1, 0)), tripleDigest(2, shadowdiffv1.Role_ROLE_CANDIDATE, time.Unix(2, 0))}}))
	for _, c := range unusualDigests() {
		f.Add(batchOf(c.digest))
	}
	f.Fuzz(func(t *testing.T, data []byte) { decodeBoth(t, data) })
}

// countingPool counts the buffers returned to it.
type countingPool struct{ put int }

func (p *countingPool) Get(n int) *[]byte { b := make([]byte, n); return &b }
func (p *countingPool) Put(*[]byte)       { p.put++ }

// A batch received in frames is decoded in them: they stay out of their
// pool, past gRPC's release, until the batch is freed.
func TestReceiveKeepsFramesUntilFree(t *testing.T) {
	data := marshal(t, &shadowdiffv1.DigestBatch{Sequence: 7, Digests: fiftyFieldDigests(20)})
	pool := &countingPool{}
	var frames mem.BufferSlice
	for rest := data; len(rest) > 0; rest = rest[min(16<<10, len(rest)):] {
		b := bytes.Clone(rest[:min(16<<10, len(rest))])
		frames = append(frames, mem.NewBuffer(&b, pool))
	}
	if len(frames) < 2 {
		t.Fatalf("%d bytes in %d frame", len(data), len(frames))
	}
	w := &wireBatch{skipFields: true, pool: &dirtyPool{}}
	if err := w.receive(frames); err != nil || w.malformed != nil {
		t.Fatalf("receive: %v, %v", err, w.malformed)
	}
	frames.Free() // as gRPC does once the codec returns
	if w.frames == nil || pool.put != 0 {
		t.Fatalf("decoded from a copy (%v) or frames released (%d): want them kept", w.frames == nil, pool.put)
	}
	if w.batch.Sequence != 7 || len(w.wire) != 20 {
		t.Fatalf("sequence %d, %d digests", w.batch.Sequence, len(w.wire))
	}
	checkWire(t, w.wire, &shadowdiffv1.DigestBatch{Digests: fiftyFieldDigests(20)})
	w.free()
	if pool.put != len(frames) {
		t.Errorf("%d of %d frames back in their pool after free", pool.put, len(frames))
	}
}
