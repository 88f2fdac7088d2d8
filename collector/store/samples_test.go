package store

import (
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// sampled is the batch of a request kept as a sample for paths.
func sampled(key, endpoint string, at time.Time, paths ...string) *Batch {
	b := &Batch{Records: []*shadowdiffv1.RequestRecord{record(key, endpoint, at, false)}}
	if len(paths) > 0 {
		b.Full = []*shadowdiffv1.RequestRecord{record(key, endpoint, at, true)}
	}
	for _, p := range paths {
		b.Samples = append(b.Samples, SampleRef{Endpoint: endpoint, Path: p, TimeNano: at.UnixNano(), Key: key})
	}
	return b
}

// state describes what the store keeps of key: its record (endpoint,
// minute, full or not), its samples by endpoint, and whether a full
// record is stored.
func state(t *testing.T, s *Bolt, key string) string {
	t.Helper()
	rec, ok, err := s.Record(key)
	if err != nil {
		t.Fatal(err)
	}
	out := "no record"
	if ok {
		out = fmt.Sprintf("%s at %d full %v", rec.Endpoint, rec.Time.AsTime().Sub(recordsBase)/time.Minute, len(rec.Primary.Body.Fields) > 0)
	}
	for _, ep := range []string{"GET /a", "GET /b"} {
		refs, _ := s.Samples(SampleQuery{Endpoint: ep})
		for _, r := range refs {
			out += fmt.Sprintf("; sample %s %s at %d", ep, r.Key, time.Duration(r.TimeNano-recordsBase.UnixNano())/time.Minute)
		}
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bktFull).Get([]byte(key)) != nil {
			out += "; full stored"
		}
		return nil
	})
	return out
}

// A record replaces the request of its key, and the samples and full
// record of that request go with it, in the same transaction; a record of
// the same request keeps them.
func TestRecordOfKeyReplacesItsSamples(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batches [][]*Batch // Apply calls
		want    string
	}{
		{"another endpoint, sampled", [][]*Batch{{sampled("K", "GET /a", at(1), "body.x", "body.z")}, {sampled("K", "GET /b", at(2), "body.y")}},
			"GET /b at 2 full true; sample GET /b K at 2; full stored"},
		{"another endpoint, not sampled", [][]*Batch{{sampled("K", "GET /a", at(1), "body.x")}, {sampled("K", "GET /b", at(2))}},
			"GET /b at 2 full false"},
		{"same endpoint, later", [][]*Batch{{sampled("K", "GET /a", at(1), "body.x")}, {sampled("K", "GET /a", at(2), "body.x")}},
			"GET /a at 2 full true; sample GET /a K at 2; full stored"},
		{"in one transaction", [][]*Batch{{sampled("K", "GET /a", at(1), "body.x"), sampled("K", "GET /b", at(2), "body.y")}},
			"GET /b at 2 full true; sample GET /b K at 2; full stored"},
		{"replaced in one transaction", [][]*Batch{{sampled("K", "GET /a", at(1), "body.x"), sampled("K", "GET /b", at(2))}},
			"GET /b at 2 full false"},
		{"same request again", [][]*Batch{{sampled("K", "GET /a", at(1), "body.x")}, {sampled("K", "GET /a", at(1), "body.z")}},
			"GET /a at 1 full true; sample GET /a K at 1; full stored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openTest(t, dir, 5)
			for _, bs := range tc.batches {
				if err := s.Apply(bs...); err != nil {
					t.Fatal(err)
				}
			}
			if got := state(t, s, "K"); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if tc.name == "same request again" {
				for _, p := range []string{"body.x", "body.z"} {
					if refs, _ := s.Samples(SampleQuery{Endpoint: "GET /a", PathPrefix: p}); len(refs) != 1 {
						t.Errorf("samples of %s = %v, want K", p, refs)
					}
				}
			}
			s.Close()
			s = openTest(t, dir, 5)
			defer s.Close()
			if got := state(t, s, "K"); got != tc.want {
				t.Errorf("after reopening:\ngot  %s\nwant %s", got, tc.want)
			}
			if n, err := s.DeleteBefore(at(3)); err != nil || n != 1 {
				t.Errorf("DeleteBefore = %d %v, want the one record", n, err)
			}
			if got := state(t, s, "K"); got != "no record" {
				t.Errorf("after retention: %s", got)
			}
		})
	}
}

// A full record left by an earlier version for a request the key's record
// no longer is (it kept the first request's) is not returned for the key.
func TestRecordSkipsFullRecordOfAnotherRequest(t *testing.T) {
	s := openTest(t, t.TempDir(), 5)
	defer s.Close()
	if err := s.Apply(sampled("K", "GET /b", at(2))); err != nil {
		t.Fatal(err)
	}
	old, _ := record("K", "GET /a", at(1), true).MarshalVT()
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktFull).Put([]byte("K"), old) }); err != nil {
		t.Fatal(err)
	}
	if rec, ok, err := s.Record("K"); err != nil || !ok || rec.Endpoint != "GET /b" {
		t.Errorf("Record(K) = %v %v %v, want the record of GET /b", rec, ok, err)
	}
	putLegacy(t, s, record("L", "GET /b", at(2), false))
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktFull).Put([]byte("L"), old) }); err != nil {
		t.Fatal(err)
	}
	if rec, ok, err := s.Record("L"); err != nil || !ok || rec.Endpoint != "GET /b" {
		t.Errorf("Record(L), a record of an earlier version = %v %v %v, want the record of GET /b", rec, ok, err)
	}
}
