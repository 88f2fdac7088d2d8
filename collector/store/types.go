package store

import (
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// PendingDigest is one raw digest of a request that is not paired yet.
type PendingDigest struct {
	Key         string
	Role        shadowdiffv1.Role
	ArrivalNano int64 // collector clock when it arrived
	Digest      []byte
}

// PendingRef names a pending digest to delete.
type PendingRef struct {
	Key  string
	Role shadowdiffv1.Role
}

// SampleRef points at a request kept as a sample for (Endpoint, Path).
type SampleRef struct {
	Endpoint string
	Path     string
	Definite bool
	TimeNano int64
	Key      string
}

// Matches reports whether rec is the request r was taken from: a pairing
// key names the latest request that had it, and an earlier one had
// another endpoint or time.
func (r SampleRef) Matches(rec *shadowdiffv1.RequestRecord) bool {
	return rec.GetEndpoint() == r.Endpoint && rec.GetTime().AsTime().UnixNano() == r.TimeNano
}

// sameRequest reports whether two records of a key are of one request.
func sameRequest(a, b *shadowdiffv1.RequestRecord) bool {
	return a.GetEndpoint() == b.GetEndpoint() && a.GetTime().AsTime().Equal(b.GetTime().AsTime())
}

// SampleQuery selects sample references.
type SampleQuery struct {
	Endpoint string
	// PathPrefix matches a path and its children ("body.a" matches
	// "body.a", "body.a.b", "body.a[]"); empty matches all.
	PathPrefix   string
	DefiniteOnly bool
	StartNano    int64 // inclusive, 0 = open
	EndNano      int64 // exclusive, 0 = open
}

// Batch is everything one ingest writes.
type Batch struct {
	PutPending    []PendingDigest
	DeletePending []PendingRef
	// Records are compact (bodies without fields). A record replaces the
	// one of its key: when it is of another request (another endpoint or
	// time), that request's samples and full record go with it.
	Records []*shadowdiffv1.RequestRecord
	// Full holds complete records for requests that become samples, and
	// Samples their refs; both come with the request's record.
	Full    []*shadowdiffv1.RequestRecord
	Samples []SampleRef
	Buckets []*Bucket
	// DeleteBuckets removes buckets (after a rollup merged them).
	DeleteBuckets []BucketRef
}

// Empty reports whether the batch writes nothing.
func (b *Batch) Empty() bool {
	return len(b.PutPending) == 0 && len(b.DeletePending) == 0 && len(b.Records) == 0 &&
		len(b.Full) == 0 && len(b.Samples) == 0 && len(b.Buckets) == 0 && len(b.DeleteBuckets) == 0
}
