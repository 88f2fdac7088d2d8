package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

var recordsBase = time.Unix(1_800_000_000, 0)

// at is the test's n-th minute.
func at(n int) time.Time { return recordsBase.Add(time.Duration(n) * time.Minute) }

// wantRecord checks that key reads as want, or is unknown when want is nil.
func wantRecord(t *testing.T, s *Bolt, key string, want *shadowdiffv1.RequestRecord) {
	t.Helper()
	got, ok, err := s.Record(key)
	switch {
	case err != nil:
		t.Fatalf("Record(%s): %v", key, err)
	case want == nil && ok:
		t.Errorf("Record(%s) = %v, want none", key, got)
	case want != nil && !ok:
		t.Errorf("Record(%s) unknown, want the record of %s", key, want.Time.AsTime())
	case want != nil && !proto.Equal(got, want):
		t.Errorf("Record(%s) = %v, want %v", key, got, want)
	}
}

func TestRecordSegmentsReadEveryRecord(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, 3)
	var recs []*shadowdiffv1.RequestRecord
	for txn := range 3 {
		var b1, b2 Batch // two batches, one transaction, one segment
		for i := range 5 {
			r := record(fmt.Sprintf("k%d-%d", txn, i), "GET /a", at(0).Add(time.Duration(i)*time.Second), false)
			r.NotComparedReason = fmt.Sprintf("reason %d", i) // records differ beyond their keys
			recs = append(recs, r)
			if i%2 == 0 {
				b1.Records = append(b1.Records, r)
			} else {
				b2.Records = append(b2.Records, r)
			}
		}
		apply(t, s, &b1, &b2)
	}
	if n := entries(t, s, bktRecordSegments); n != 3 {
		t.Errorf("%d segments, want 3 (one per transaction and minute)", n)
	}
	s.Close()
	s = openTest(t, dir, 3)
	defer s.Close()
	for _, r := range recs {
		wantRecord(t, s, r.PairingKey, r)
	}
	wantRecord(t, s, "unknown", nil)
}

func TestRecordSegmentsReplaceAReusedKey(t *testing.T) {
	s := openTest(t, t.TempDir(), 3)
	defer s.Close()
	old, mid, last := record("k", "GET /a", at(1), false), record("k", "GET /a", at(3), false), record("k", "GET /b", at(5), false)
	apply(t, s, &Batch{Records: []*shadowdiffv1.RequestRecord{old}})
	apply(t, s, &Batch{Records: []*shadowdiffv1.RequestRecord{mid}}, &Batch{Records: []*shadowdiffv1.RequestRecord{last}})
	wantRecord(t, s, "k", last)
	// In one transaction the later record wins, whatever the minutes of
	// their segments.
	late, early := record("j", "GET /a", at(9), false), record("j", "GET /a", at(2), false)
	apply(t, s, &Batch{Records: []*shadowdiffv1.RequestRecord{late, early}})
	wantRecord(t, s, "j", early)
	if _, err := s.Clear(""); err != nil {
		t.Fatal(err)
	}
	apply(t, s, &Batch{Records: []*shadowdiffv1.RequestRecord{old}})
	apply(t, s, &Batch{Records: []*shadowdiffv1.RequestRecord{mid}}, &Batch{Records: []*shadowdiffv1.RequestRecord{last}})
	// The old copies are dead: deleting by age or endpoint does not count
	// or delete them, nor the live one.
	if n, err := s.DeleteBefore(at(4)); err != nil || n != 0 {
		t.Errorf("DeleteBefore(minute 4) = %d %v, want 0 (only replaced copies are that old)", n, err)
	}
	if n := entries(t, s, bktRecordSegments); n != 1 {
		t.Errorf("%d segments, want 1: the first held only a replaced copy", n)
	}
	if n, err := s.Clear("GET /a"); err != nil || n != 0 {
		t.Errorf("Clear(GET /a) = %d %v, want 0", n, err)
	}
	wantRecord(t, s, "k", last)
	if n, err := s.Clear(""); err != nil || n != 1 {
		t.Errorf("Clear() = %d %v, want 1", n, err)
	}
	wantRecord(t, s, "k", nil)
	if segs, keys := entries(t, s, bktRecordSegments), entries(t, s, bktRecordKeys); segs+keys != 0 {
		t.Errorf("%d segments and %d keys left", segs, keys)
	}
}

// A transaction's records are split by minute, so a record with a skewed
// clock does not keep its transaction's segment in every retention walk:
// once the old record goes, no segment starts before the cut.
func TestRecordSegmentsSpanAMinute(t *testing.T) {
	s := openTest(t, t.TempDir(), 3)
	defer s.Close()
	skewed, now1, now2 := record("skewed", "GET /a", at(0), false), record("n1", "GET /a", at(10), false),
		record("n2", "GET /a", at(10).Add(30*time.Second), false)
	apply(t, s, &Batch{Records: []*shadowdiffv1.RequestRecord{now1, skewed, now2}})
	if n := entries(t, s, bktRecordSegments); n != 2 {
		t.Fatalf("%d segments, want 2 (minutes 0 and 10)", n)
	}
	if n, err := s.DeleteBefore(at(5)); err != nil || n != 1 {
		t.Fatalf("DeleteBefore(minute 5) = %d %v, want 1", n, err)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bktRecordSegments).Cursor().First()
		if k == nil || getTime(k) < at(5).UnixNano() {
			t.Errorf("first segment %x starts before the cut", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*shadowdiffv1.RequestRecord{now1, now2} {
		wantRecord(t, s, r.PairingKey, r)
	}
}

// A segment's records go one by one, by age or endpoint; the segment goes
// with its last.
func TestRecordSegmentsDeletePartly(t *testing.T) {
	s := openTest(t, t.TempDir(), 3)
	defer s.Close()
	recs := []*shadowdiffv1.RequestRecord{
		record("a3", "GET /a", at(3), false), record("b1", "GET /b", at(1), false),
		record("a2", "GET /a", at(2), false), record("b4", "GET /b", at(4), false),
	}
	later := record("a9", "GET /a", at(9), false)
	apply(t, s, &Batch{Records: recs})
	apply(t, s, &Batch{Records: []*shadowdiffv1.RequestRecord{later}})
	if n, err := s.DeleteBefore(at(3)); err != nil || n != 2 {
		t.Fatalf("DeleteBefore(minute 3) = %d %v, want 2 (b1, a2)", n, err)
	}
	wantRecord(t, s, "b1", nil)
	wantRecord(t, s, "a2", nil)
	wantRecord(t, s, "a3", recs[0])
	if n, err := s.Clear("GET /b"); err != nil || n != 1 {
		t.Fatalf("Clear(GET /b) = %d %v, want 1 (b4)", n, err)
	}
	wantRecord(t, s, "b4", nil)
	wantRecord(t, s, "a3", recs[0])
	if n := entries(t, s, bktRecordSegments); n != 2 {
		t.Fatalf("%d segments, want 2 (a3's and a9's)", n)
	}
	if n, err := s.DeleteBefore(at(5)); err != nil || n != 1 {
		t.Fatalf("DeleteBefore(minute 5) = %d %v, want 1 (a3)", n, err)
	}
	if n := entries(t, s, bktRecordSegments); n != 1 {
		t.Errorf("%d segments, want 1 (the later one)", n)
	}
	wantRecord(t, s, "a9", later)
}

// Records stored by earlier versions, one entry each with a time index,
// are still read and deleted; a key written again reads as the new record
// and its old entry goes uncounted.
func TestLegacyRecords(t *testing.T) {
	s := openTest(t, t.TempDir(), 3)
	defer s.Close()
	legacy := []*shadowdiffv1.RequestRecord{record("old1", "GET /a", at(1), false), record("old2", "GET /a", at(2), false)}
	putLegacy(t, s, legacy...)
	wantRecord(t, s, "old1", legacy[0])
	again := record("old2", "GET /a", at(3), false)
	apply(t, s, &Batch{Records: []*shadowdiffv1.RequestRecord{again}})
	wantRecord(t, s, "old2", again)
	if n, err := s.DeleteBefore(at(3)); err != nil || n != 1 {
		t.Errorf("DeleteBefore(minute 3) = %d %v, want 1 (old1; old2 was written again)", n, err)
	}
	wantRecord(t, s, "old1", nil)
	wantRecord(t, s, "old2", again)
	if n, m := entries(t, s, bktRecords), entries(t, s, bktRecordTime); n+m != 0 {
		t.Errorf("%d legacy records and %d time entries left", n, m)
	}
}

// putLegacy stores records as earlier versions did: each under its key,
// with a time index entry.
func putLegacy(t *testing.T, s *Bolt, recs ...*shadowdiffv1.RequestRecord) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, r := range recs {
			data, err := r.MarshalVT()
			if err != nil {
				return err
			}
			if err := tx.Bucket(bktRecords).Put([]byte(r.PairingKey), data); err != nil {
				return err
			}
			k := append(putTime(nil, r.Time.AsTime().UnixNano()), r.PairingKey...)
			if err := tx.Bucket(bktRecordTime).Put(k, []byte(r.Endpoint)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Random writes (keys written again, several batches per transaction),
// deletions by age and endpoint and reopenings, starting from legacy
// records, against a map of what each key should read as; deletions must
// count what they delete, and nothing may stay behind.
func TestRecordsMatchAModel(t *testing.T) {
	const keys, steps = 30, 200
	eps := []string{"GET /a", "GET /b", "GET /c"}
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 9))
		dir := t.TempDir()
		s := openTest(t, dir, 3)
		model := map[string]*shadowdiffv1.RequestRecord{}
		newRecord := func(key, step int) *shadowdiffv1.RequestRecord {
			r := record(fmt.Sprintf("k%d", key), eps[rng.IntN(len(eps))], at(rng.IntN(100)), false)
			r.NotComparedReason = fmt.Sprintf("step %d", step)
			model[r.PairingKey] = r
			return r
		}
		for key := range keys / 3 { // earlier versions kept one entry per key
			putLegacy(t, s, newRecord(key, -1))
		}
		for step := range steps {
			switch op := rng.IntN(20); {
			case op < 14:
				bs := make([]*Batch, 1+rng.IntN(3))
				for i := range bs {
					bs[i] = &Batch{}
					for range rng.IntN(6) {
						bs[i].Records = append(bs[i].Records, newRecord(rng.IntN(keys), step))
					}
				}
				apply(t, s, bs...)
			case op < 16:
				cut := at(rng.IntN(100))
				want := forget(model, func(r *shadowdiffv1.RequestRecord) bool { return r.Time.AsTime().Before(cut) })
				if n, err := s.DeleteBefore(cut); err != nil || n != want {
					t.Fatalf("seed %d step %d: DeleteBefore = %d %v, want %d", seed, step, n, err, want)
				}
			case op < 18:
				ep := eps[rng.IntN(len(eps))]
				if rng.IntN(3) == 0 {
					ep = ""
				}
				want := forget(model, func(r *shadowdiffv1.RequestRecord) bool { return ep == "" || r.Endpoint == ep })
				if n, err := s.Clear(ep); err != nil || n != want {
					t.Fatalf("seed %d step %d: Clear(%q) = %d %v, want %d", seed, step, ep, n, err, want)
				}
			default:
				s.Close()
				s = openTest(t, dir, 3)
			}
			for i := range keys {
				key := fmt.Sprintf("k%d", i)
				if got, ok, err := s.Record(key); err != nil || ok != (model[key] != nil) || ok && got.NotComparedReason != model[key].NotComparedReason {
					t.Fatalf("seed %d step %d: Record(%s) = %v %v %v, want %v", seed, step, key, got, ok, err, model[key])
				}
			}
		}
		if n, err := s.Clear(""); err != nil || n != uint64(len(model)) {
			t.Fatalf("seed %d: Clear() = %d %v, want %d", seed, n, err, len(model))
		}
		for _, bkt := range [][]byte{bktRecordSegments, bktRecordKeys, bktRecords, bktRecordTime} {
			if n := entries(t, s, bkt); n != 0 {
				t.Errorf("seed %d: %d entries left in %s", seed, n, bkt)
			}
		}
		s.Close()
	}
}

// forget deletes the records that match from the model and counts them.
func forget(model map[string]*shadowdiffv1.RequestRecord, match func(*shadowdiffv1.RequestRecord) bool) uint64 {
	var n uint64
	for k, r := range model {
		if match(r) {
			delete(model, k)
			n++
		}
	}
	return n
}

// RecentRecords passes the live records of a key since a time, newest
// segments first, within a limit: not a copy replaced since, not a
// deleted one, not an older one.
func TestRecentRecords(t *testing.T) {
	s := openTest(t, t.TempDir(), 3)
	defer s.Close()
	old, replaced, live := record("old", "GET /a", at(0), false), record("k", "GET /a", at(5), false), record("k", "GET /a", at(7), false)
	// One segment (a transaction's minute) keeps m live beside the dead
	// copies of k and c.
	cleared, kept := record("c", "GET /b", at(5).Add(time.Second), false), record("m", "GET /a", at(5).Add(2*time.Second), false)
	apply(t, s, &Batch{Records: []*shadowdiffv1.RequestRecord{old, replaced, cleared, kept}})
	apply(t, s, &Batch{Records: []*shadowdiffv1.RequestRecord{live, record("n", "GET /a", at(8), false)}})
	if _, err := s.Clear("GET /b"); err != nil {
		t.Fatal(err)
	}
	recent := func(since time.Time, limit int) []string {
		var got []string
		if err := s.RecentRecords(since, at(60), limit, func(r *shadowdiffv1.RequestRecord) error {
			got = append(got, fmt.Sprintf("%s@%d", r.PairingKey, int(r.Time.AsTime().Sub(recordsBase)/time.Minute)))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := fmt.Sprint(recent(at(1), 0)); got != "[n@8 k@7 m@5]" {
		t.Errorf("since minute 1: %s, want [n@8 k@7 m@5] (the newest first; not old, not k's replaced copy, not the cleared c)", got)
	}
	if got := fmt.Sprint(recent(at(8), 0)); got != "[n@8]" {
		t.Errorf("since minute 8: %s, want [n@8]", got)
	}
	if got := fmt.Sprint(recent(at(0), 1)); got != "[n@8]" {
		t.Errorf("since minute 0, limit 1: %s, want [n@8]", got)
	}
	// Until: later records are left out, and do not count in the limit.
	var got []string
	if err := s.RecentRecords(at(1), at(7), 1, func(r *shadowdiffv1.RequestRecord) error {
		got = append(got, r.PairingKey)
		return nil
	}); err != nil || fmt.Sprint(got) != "[k]" {
		t.Errorf("minutes 1 to 7, limit 1: %v %v, want [k]", got, err)
	}
}
