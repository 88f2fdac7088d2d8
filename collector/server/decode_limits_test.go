package server

import (
	"bytes"
	"testing"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// A body sent many times merges as the generated code merges it (each
// occurrence is appended once: the merge used to copy all that came
// before for every occurrence, quadratic in their number).
func TestDecodeBodySentManyTimes(t *testing.T) {
	occurrence := bytesField(nil, digestBody, string(varintField(nil, 7, 0))) // truncated: false
	digest := append(bytesField(nil, 1, "req-1"), bytes.Repeat(occurrence, 2000)...)
	got := decodeBoth(t, batchOf(digest))
	if len(got.Digests) != 1 || got.Digests[0].GetBody() == nil {
		t.Fatalf("decoded %v, want one digest with a body", got)
	}
	var d decoder
	body := d.mergeBody(nil, 0, []byte("a"))
	for i := 1; i < 5; i++ {
		body = d.mergeBody(body, i, []byte{byte('a' + i)})
	}
	if string(body) != "abcde" {
		t.Errorf("merged %q, want abcde", body)
	}
}

// A batch with more digests than the limit is not decoded digest by
// digest: a flood of empty digests (two bytes each on the wire, hundreds
// decoded) costs a few allocations, and the count is reported for the
// refusal.
func TestDecodeBatchOverTheDigestLimit(t *testing.T) {
	const n, limit = 100_000, 1024
	data := append(varintField(nil, 1, 7), bytes.Repeat([]byte{batchDigests<<3 | 2, 0}, n)...)
	for _, skip := range []bool{true, false} {
		var m shadowdiffv1.DigestBatch
		wire, _, over, err := decodeBatch(data, &m, skip, limit)
		if err != nil || over != n || wire != nil || len(m.Digests) != 0 || m.Sequence != 7 {
			t.Fatalf("skipFields=%v: over %d, %d digests, sequence %d, err %v; want over %d, none decoded, sequence 7",
				skip, over, len(m.Digests), m.Sequence, err, n)
		}
		allocs := testing.AllocsPerRun(5, func() {
			var m shadowdiffv1.DigestBatch
			decodeBatch(data, &m, skip, limit)
		})
		if allocs > 10 {
			t.Errorf("skipFields=%v: %v allocations for a refused batch of %d digests, want a few", skip, allocs, n)
		}
	}
	// At the limit the batch is decoded.
	var m shadowdiffv1.DigestBatch
	if _, _, over, err := decodeBatch(data[:len(varintField(nil, 1, 7))+2*limit], &m, true, limit); err != nil || over != 0 || len(m.Digests) != limit {
		t.Errorf("batch at the limit: over %d, %d digests, err %v; want all %d decoded", over, len(m.Digests), err, limit)
	}
}

// The generated code reads some of what protowire refuses, such as a
// 10-byte varint whose last byte is over 1, but reads it without the
// digest limit: a bounded decoding refuses such a batch instead of
// handing it to the generated code (a flood of empty digests behind an
// overlong sequence was decoded whole).
func TestBoundedDecodeRefusesWhatProtowireRefuses(t *testing.T) {
	overlong := []byte{1<<3 | 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	data := append(overlong, bytes.Repeat([]byte{batchDigests<<3 | 2, 0}, 100_000)...)
	var m shadowdiffv1.DigestBatch
	if wire, _, over, err := decodeBatch(data, &m, true, 1024); err == nil || len(m.Digests) != 0 || wire != nil || over != 0 {
		t.Errorf("bounded: %d digests decoded, over %d, err %v; want an error and none decoded", len(m.Digests), over, err)
	}
	// Unbounded, it decodes as the generated code does (decodeBoth).
	if got := decodeBoth(t, append(overlong, batchDigests<<3|2, 0)); len(got.GetDigests()) != 1 {
		t.Errorf("unbounded: %v, want the generated code's one digest", got)
	}
}
