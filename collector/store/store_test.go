package store

import (
	"fmt"
	"maps"
	"math"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func openTest(t testing.TB, dir string, n int) *Bolt {
	t.Helper()
	// Small runs of record keys, so that tests write, reopen and delete
	// in the middle of them.
	s, err := OpenBolt(dir, BoltOptions{SamplesPerField: n, keyRunMin: 5, keyChunkMin: 2})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func record(key, endpoint string, at time.Time, full bool) *shadowdiffv1.RequestRecord {
	r := &shadowdiffv1.RequestRecord{PairingKey: key, Endpoint: endpoint, Time: timestamppb.New(at),
		Primary: &shadowdiffv1.ResponseDigest{PairingKey: key, Status: 200, Body: &shadowdiffv1.BodyDigest{Kind: shadowdiffv1.BodyKind_BODY_KIND_JSON}}}
	if full {
		r.Primary.Body.Fields = []*shadowdiffv1.FieldEntry{{Path: "a", ValueHash: 7}}
	}
	return r
}

func TestApplySurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, 3)
	at := time.Unix(1_800_000_000, 0)
	d := &shadowdiffv1.ResponseDigest{PairingKey: "k1", Role: shadowdiffv1.Role_ROLE_PRIMARY, Status: 200}
	raw, _ := proto.Marshal(d)
	b := &Batch{
		PutPending: []PendingDigest{{Key: "k1", Role: shadowdiffv1.Role_ROLE_PRIMARY, ArrivalNano: 42, Digest: raw},
			{Key: "k2", Role: shadowdiffv1.Role_ROLE_CANDIDATE, ArrivalNano: 43, Digest: raw}},
		Records: []*shadowdiffv1.RequestRecord{record("r1", "GET /a", at, false)},
		Full:    []*shadowdiffv1.RequestRecord{record("r1", "GET /a", at, true)},
		Samples: []SampleRef{{Endpoint: "GET /a", Path: "body.a", TimeNano: at.UnixNano(), Key: "r1"}},
		Buckets: []*Bucket{{Endpoint: "GET /a", StartUnix: at.Unix(), WidthSec: 60, Counts: EndpointCounts{Requests: 5, Compared: 4},
			Fields: map[string]*FieldCounts{"body.a": {FieldDiffs: &FieldDiffs{Raw: 3, RawKinds: [NumKinds]uint64{1: 3}}}}, Signatures: map[string]uint64{"x": 2}}},
	}
	if err := s.Apply(b); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(&Batch{DeletePending: []PendingRef{{Key: "k2", Role: shadowdiffv1.Role_ROLE_CANDIDATE}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDropped(7); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir, 3)
	defer s.Close()
	var pend []PendingDigest
	if err := s.LoadPending(func(p PendingDigest) error { pend = append(pend, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(pend) != 1 || pend[0].Key != "k1" || pend[0].Role != shadowdiffv1.Role_ROLE_PRIMARY || pend[0].ArrivalNano != 42 {
		t.Fatalf("pending after reopen = %+v", pend)
	}
	got := &shadowdiffv1.ResponseDigest{}
	if err := proto.Unmarshal(pend[0].Digest, got); err != nil || !proto.Equal(got, d) {
		t.Errorf("pending digest = %v (%v), want %v", got, err, d)
	}
	var buckets []*Bucket
	if err := s.LoadBuckets(func(b *Bucket) error { buckets = append(buckets, b); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(buckets) != 1 || buckets[0].Counts.Compared != 4 || buckets[0].Fields["body.a"].RawKinds[1] != 3 || buckets[0].Signatures["x"] != 2 {
		t.Fatalf("buckets after reopen = %+v", buckets)
	}
	rec, ok, err := s.Record("r1")
	if err != nil || !ok || len(rec.Primary.Body.Fields) != 1 {
		t.Errorf("record r1 = %v %v %v, want the full record", rec, ok, err)
	}
	if refs, _ := s.Samples(SampleQuery{Endpoint: "GET /a"}); len(refs) != 1 || refs[0].Key != "r1" {
		t.Errorf("samples after reopen = %v", refs)
	}
	if n, err := s.Dropped(); err != nil || n != 7 {
		t.Errorf("dropped = %d %v, want 7", n, err)
	}
	if _, ok, _ := s.Record("nope"); ok {
		t.Error("unknown record found")
	}
}

// Samples keep the N newest per (endpoint, field, definite); full records
// go when no sample refers to them, compact records stay.
func TestSamplesBoundedPerField(t *testing.T) {
	s := openTest(t, t.TempDir(), 2)
	defer s.Close()
	base := time.Unix(1_800_000_000, 0)
	for i := range 5 {
		key := fmt.Sprintf("r%d", i)
		at := base.Add(time.Duration(i) * time.Second)
		b := &Batch{
			Records: []*shadowdiffv1.RequestRecord{record(key, "GET /a", at, false)},
			Full:    []*shadowdiffv1.RequestRecord{record(key, "GET /a", at, true)},
			Samples: []SampleRef{
				{Endpoint: "GET /a", Path: "body.x", TimeNano: at.UnixNano(), Key: key},
				{Endpoint: "GET /a", Path: "body.x.y", TimeNano: at.UnixNano(), Key: key, Definite: i == 0},
			},
		}
		if err := s.Apply(b); err != nil {
			t.Fatal(err)
		}
	}
	refs, _ := s.Samples(SampleQuery{Endpoint: "GET /a", PathPrefix: "body.x"})
	var keys []string
	for _, r := range refs {
		keys = append(keys, r.Key)
	}
	if fmt.Sprint(keys) != "[r4 r3 r0]" {
		t.Errorf("samples = %v, want newest first [r4 r3 r0] (r0 is the only definite one)", keys)
	}
	refs, _ = s.Samples(SampleQuery{Endpoint: "GET /a", PathPrefix: "body.x", DefiniteOnly: true})
	if len(refs) != 1 || refs[0].Key != "r0" {
		t.Errorf("definite samples = %v", refs)
	}
	if refs, _ := s.Samples(SampleQuery{Endpoint: "GET /a", PathPrefix: "body.x.y", StartNano: base.Add(4 * time.Second).UnixNano()}); len(refs) != 1 {
		t.Errorf("ranged samples = %v", refs)
	}
	for i, wantFull := range []bool{true, false, false, true, true} {
		rec, ok, err := s.Record(fmt.Sprintf("r%d", i))
		if err != nil || !ok {
			t.Fatalf("r%d: %v %v", i, ok, err)
		}
		if full := len(rec.Primary.Body.Fields) > 0; full != wantFull {
			t.Errorf("r%d full = %v, want %v", i, full, wantFull)
		}
	}
}

func TestClearAndRetention(t *testing.T) {
	s := openTest(t, t.TempDir(), 5)
	defer s.Close()
	base := time.Unix(1_800_000_000, 0)
	var b Batch
	for i := range 6 {
		ep := []string{"GET /a", "GET /b"}[i%2]
		key := fmt.Sprintf("r%d", i)
		at := base.Add(time.Duration(i) * time.Minute)
		b.Records = append(b.Records, record(key, ep, at, false))
		b.Full = append(b.Full, record(key, ep, at, true))
		b.Samples = append(b.Samples, SampleRef{Endpoint: ep, Path: "body", TimeNano: at.UnixNano(), Key: key})
		b.Buckets = append(b.Buckets, &Bucket{Endpoint: ep, StartUnix: at.Unix(), WidthSec: 60})
	}
	if err := s.Apply(&b); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteBefore(base.Add(2 * time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("DeleteBefore = %d %v, want 2", n, err)
	}
	if _, ok, _ := s.Record("r1"); ok {
		t.Error("r1 survived retention")
	}
	if _, ok, _ := s.Record("r2"); !ok {
		t.Error("r2 deleted by retention")
	}
	n, err = s.Clear("GET /b")
	if err != nil || n != 2 {
		t.Fatalf("Clear(GET /b) = %d %v, want 2 (r3, r5)", n, err)
	}
	if refs, _ := s.Samples(SampleQuery{Endpoint: "GET /b"}); len(refs) != 0 {
		t.Errorf("samples of cleared endpoint: %v", refs)
	}
	var eps []string
	_ = s.LoadBuckets(func(b *Bucket) error { eps = append(eps, b.Endpoint); return nil })
	if fmt.Sprint(eps) != "[GET /a GET /a]" {
		t.Errorf("buckets left = %v", eps)
	}
	if n, err := s.Clear(""); err != nil || n != 2 {
		t.Errorf("Clear(all) = %d %v, want 2", n, err)
	}
}

// Retention deletes a bucket once it ended by the cut, whatever its
// width, not once it started before it: until its end it may count
// requests inside the retention.
func TestRetentionDeletesBucketsThatEnded(t *testing.T) {
	s := openTest(t, t.TempDir(), 5)
	defer s.Close()
	base := time.Unix(1_800_000_000, 0).Unix() // on the hour
	var b Batch
	for _, bk := range []struct {
		ep           string
		start, width int64
	}{
		{"GET /m", base, 60}, {"GET /m", base + 60, 60}, {"GET /m", base + 120, 60},
		{"GET /h", base - 3600, 3600}, {"GET /h", base, 3600},
	} {
		b.Buckets = append(b.Buckets, &Bucket{Endpoint: bk.ep, StartUnix: bk.start, WidthSec: bk.width,
			Counts: EndpointCounts{Requests: 1}, Fields: map[string]*FieldCounts{"body.a": {Seen: 1}}})
	}
	if err := s.Apply(&b); err != nil {
		t.Fatal(err)
	}
	left := func() string {
		var out []string
		if err := s.LoadBuckets(func(b *Bucket) error {
			out = append(out, fmt.Sprintf("%s+%d", b.Endpoint, b.StartUnix-base))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(out)
	}
	if _, err := s.DeleteBefore(time.Unix(base+65, 0)); err != nil {
		t.Fatal(err)
	}
	if got, want := left(), "[GET /h+0 GET /m+60 GET /m+120]"; got != want {
		t.Errorf("buckets left at cut +65 s = %s, want %s (the ones that had not ended)", got, want)
	}
	if _, err := s.DeleteBefore(time.Unix(base+3600, 0)); err != nil {
		t.Fatal(err)
	}
	if got := left(); got != "[]" {
		t.Errorf("buckets left at the hour's end = %s, want none", got)
	}
}

// The width is read wherever the encoding has it.
func TestBucketWidth(t *testing.T) {
	for v, want := range map[string]int64{
		`{"e":"GET /a","s":1,"w":3600,"c":{}}`:                     3600,
		`{"f":{"body.w":{"n":1}},"e":"x\"w","sig":{"w":2},"w":60}`: 60,
		`{"e":"GET /a","s":1}`:                                     -1,
		`[1]`:                                                      -1,
		``:                                                         -1,
	} {
		got, err := bucketWidth([]byte(v))
		if err != nil {
			got = -1
		}
		if got != want {
			t.Errorf("bucketWidth(%s) = %d (%v), want %d", v, got, err, want)
		}
	}
}

func TestRules(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, 5)
	r1, err := s.PutNoiseRule(&shadowdiffv1.NoiseRule{PathPrefix: "body.a", Created: timestamppb.New(time.Unix(1, 0))})
	if err != nil || r1.Id == "" {
		t.Fatalf("put: %v %v", r1, err)
	}
	r2, _ := s.PutNoiseRule(&shadowdiffv1.NoiseRule{PathPrefix: "headers.date", Endpoint: "GET /a", Created: timestamppb.New(time.Unix(2, 0))})
	if r1.Id == r2.Id {
		t.Fatalf("ids not unique: %s", r1.Id)
	}
	e1, _ := s.PutEndpointRule(&shadowdiffv1.EndpointRule{PathPattern: "/u/{name}", Endpoint: "GET /u/{name}"})
	s.Close()
	s = openTest(t, dir, 5)
	defer s.Close()
	rules, _ := s.NoiseRules()
	if len(rules) != 2 || rules[0].Id != r1.Id || rules[1].PathPrefix != "headers.date" {
		t.Fatalf("rules after reopen = %v", rules)
	}
	if ok, err := s.DeleteNoiseRule(r1.Id); !ok || err != nil {
		t.Errorf("delete = %v %v", ok, err)
	}
	if ok, _ := s.DeleteNoiseRule(r1.Id); ok {
		t.Error("deleted twice")
	}
	ers, _ := s.EndpointRules()
	if len(ers) != 1 || ers[0].Id != e1.Id {
		t.Errorf("endpoint rules = %v", ers)
	}
	if ok, _ := s.DeleteEndpointRule(e1.Id); !ok {
		t.Error("endpoint rule not deleted")
	}
	if deleted, err := s.DeletedLearnedRules(); len(deleted) != 0 || err != nil {
		t.Errorf("a user's rule deleted is remembered: %v %v", deleted, err)
	}
}

// A deleted learned rule is remembered, across a reopen, once per method
// and pattern.
func TestDeletedLearnedRules(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, 5)
	for range 2 {
		r, err := s.PutEndpointRule(&shadowdiffv1.EndpointRule{Method: "GET", PathPattern: "/p/{slug}", Endpoint: "GET /p/{slug}", Learned: true})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := s.DeleteEndpointRule(r.Id); !ok || err != nil {
			t.Fatalf("delete = %v %v", ok, err)
		}
	}
	s.Close()
	s = openTest(t, dir, 5)
	defer s.Close()
	deleted, err := s.DeletedLearnedRules()
	if err != nil || len(deleted) != 1 || deleted[0].PathPattern != "/p/{slug}" || deleted[0].Method != "GET" || !deleted[0].Learned {
		t.Errorf("deleted learned rules = %v %v", deleted, err)
	}
	if rules, _ := s.EndpointRules(); len(rules) != 0 {
		t.Errorf("rules = %v", rules)
	}
}

func TestPathHasPrefix(t *testing.T) {
	for _, tc := range []struct {
		path, prefix string
		want         bool
	}{
		{"body.a", "body.a", true},
		{"body.a.b", "body.a", true},
		{"body.a[].b", "body.a", true},
		{"body.ab", "body.a", false},
		{"body[].id", "body", true},
		{"headers.date", "headers", true},
		{"headers.date", "headers.", true},
		{"body.a\\.b", "body.a", false},
		{"anything", "", true},
		{"body", "body.a", false},
	} {
		if got := PathHasPrefix(tc.path, tc.prefix); got != tc.want {
			t.Errorf("PathHasPrefix(%q, %q) = %v, want %v", tc.path, tc.prefix, got, tc.want)
		}
	}
}

func TestBucketMergeOverflowsSignatures(t *testing.T) {
	a := &Bucket{Endpoint: "e", Fields: map[string]*FieldCounts{"f": {FieldDiffs: &FieldDiffs{Raw: 1}}}}
	a.AddSignature("s1", 2, 2)
	b := &Bucket{Endpoint: "e", Fields: map[string]*FieldCounts{"f": {FieldDiffs: &FieldDiffs{Raw: 2}}, "g": {FieldDiffs: &FieldDiffs{Noise: 1}}}, Counts: EndpointCounts{Compared: 3}}
	b.AddSignature("s2", 1, 2)
	b.AddSignature("s3", 4, 2)
	a.Merge(b, 2)
	if a.Fields["f"].Raw != 3 || a.Fields["g"].Noise != 1 || a.Counts.Compared != 3 {
		t.Errorf("merged counters = %+v", a)
	}
	// Which of s2 and s3 fits depends on map order; nothing is lost.
	total := a.SignatureOverflow
	for _, n := range a.Signatures {
		total += n
	}
	if a.Signatures["s1"] != 2 || len(a.Signatures) != 2 || total != 7 {
		t.Errorf("signatures = %v overflow %d", a.Signatures, a.SignatureOverflow)
	}
	c := a.Clone()
	c.Fields["f"].Raw = 100
	if a.Fields["f"].Raw != 3 || c.SignatureOverflow != a.SignatureOverflow || fmt.Sprint(c.Signatures) != fmt.Sprint(a.Signatures) {
		t.Errorf("clone %+v differs from or shares with %+v", c, a)
	}
}

// The count of digests filters dropped saturates instead of wrapping: the
// server bounds each batch's count, not their sum.
func TestAddDroppedSaturates(t *testing.T) {
	s := openTest(t, t.TempDir(), 3)
	defer s.Close()
	for _, c := range []struct{ add, want uint64 }{{7, 7}, {math.MaxUint64 - 10, math.MaxUint64 - 3}, {5, math.MaxUint64}, {1, math.MaxUint64}} {
		got, err := s.AddDropped(c.add)
		if err != nil || got != c.want {
			t.Fatalf("AddDropped(%d) = %d, %v; want %d", c.add, got, err, c.want)
		}
	}
	if got, err := s.Dropped(); err != nil || got != math.MaxUint64 {
		t.Errorf("Dropped = %d, %v; want the maximum", got, err)
	}
}

// A data dir another process holds open says so and names the dir, rather
// than bbolt's bare "timeout" (a second open in this process takes another
// flock on the file, as another process would).
func TestOpenLockedDataDir(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, 5)
	defer s.Close()
	_, err := OpenBolt(dir, BoltOptions{})
	want := "store: the database in " + dir + " is locked by another process (is another collector using this data dir?): no lock on shadowdiff.db within 2s: timeout"
	if err == nil || err.Error() != want {
		t.Fatalf("second open: %v\nwant %s", err, want)
	}
}

// A field that never differed is stored and loaded without counters of
// differences, also from the flat JSON of earlier versions, which wrote
// zero kind arrays for every field.
func TestBucketFieldsWithoutDifferences(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, 3)
	b := &Bucket{Endpoint: "GET /a", StartUnix: 60, WidthSec: 60, Counts: EndpointCounts{Requests: 4, Compared: 4},
		Fields: map[string]*FieldCounts{
			"body.same":    {Seen: 4, NoiseSeen: 4},
			"body.differs": {Seen: 4, NoiseSeen: 4, FieldDiffs: &FieldDiffs{Raw: 1, Definite: 1, RawKinds: [NumKinds]uint64{1: 1}}},
		}}
	if err := s.Apply(&Batch{Buckets: []*Bucket{b}}); err != nil {
		t.Fatal(err)
	}
	old := `{"e":"GET /b","s":60,"w":60,"c":{"r":2,"c":2},"f":{"body.old":{"n":2,"ns":2,"rk":[0,0,0,0,0,0,0,0,0,0],"zk":[0,0,0,0,0,0,0,0,0,0]}}}`
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bktAggregates).Put([]byte("old-form"), []byte(old))
	}); err != nil {
		t.Fatal(err)
	}
	got := map[string]*FieldCounts{}
	if err := s.LoadBuckets(func(b *Bucket) error {
		maps.Copy(got, b.Fields)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]*FieldCounts{"body.same": b.Fields["body.same"], "body.differs": b.Fields["body.differs"], "body.old": {Seen: 2, NoiseSeen: 2}} {
		fc := got[path]
		if fc == nil || !fc.Equal(want) {
			t.Errorf("%s loaded as %+v, want %+v", path, fc, want)
			continue
		}
		if (fc.FieldDiffs == nil) != (want.FieldDiffs == nil) {
			t.Errorf("%s: counters of differences %v, want %v", path, fc.FieldDiffs, want.FieldDiffs)
		}
	}
}
