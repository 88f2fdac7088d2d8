package store

import (
	"maps"
	"testing"
)

// MergeGrowth from a snapshot adds exactly what the bucket gained: counts,
// a field that only differed more, a field that joined it, signatures;
// unchanged fields add nothing. The sum it keeps equals the other
// buckets merged with the bucket as it is now.
func TestMergeGrowthFromSnapshot(t *testing.T) {
	other := &Bucket{Counts: EndpointCounts{Requests: 3}, Fields: map[string]*FieldCounts{"body.a": {Seen: 3}}}
	cur := &Bucket{Counts: EndpointCounts{Requests: 2, Compared: 2},
		Fields: map[string]*FieldCounts{
			"body.a": {Seen: 2, FieldDiffs: &FieldDiffs{Raw: 1}},
			"body.b": {Seen: 2},
			"status": {Seen: 2, NoiseSeen: 1},
		},
		Signatures: map[string]uint64{"x": 1}}
	sum := &Bucket{}
	sum.Merge(other, 8)
	sum.Merge(cur, 8)
	was := cur.Snapshot()

	cur.Counts.Requests++
	cur.Fields["body.a"].Differed().RawKinds[1]++ // differed more, seen as often
	cur.Fields["body.b"].Seen++
	cur.Fields["body.c"] = &FieldCounts{Seen: 1, FieldDiffs: &FieldDiffs{Noise: 1}}
	cur.Signatures["x"]++
	cur.Signatures["y"] = 2
	var joined []string
	sum.MergeGrowth(cur, was, 8, func(p string) { joined = append(joined, p) })

	want := &Bucket{}
	want.Merge(other, 8)
	want.Merge(cur, 8)
	if sum.Counts != want.Counts || !maps.EqualFunc(sum.Fields, want.Fields, (*FieldCounts).Equal) || !maps.Equal(sum.Signatures, want.Signatures) {
		t.Errorf("sum %+v, fields %v, signatures %v; want %+v, %v, %v", sum.Counts, sum.Fields, sum.Signatures, want.Counts, want.Fields, want.Signatures)
	}
	if len(joined) != 1 || joined[0] != "body.c" {
		t.Errorf("fields that joined: %v, want [body.c]", joined)
	}
	if was.Requests() != 2 {
		t.Errorf("snapshot requests = %d, want 2", was.Requests())
	}
}
