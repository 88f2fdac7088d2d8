package store

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

const (
	rolePrimary   = shadowdiffv1.Role_ROLE_PRIMARY
	roleCandidate = shadowdiffv1.Role_ROLE_CANDIDATE
)

func pd(key string, role shadowdiffv1.Role, arrival int64) PendingDigest {
	return PendingDigest{Key: key, Role: role, ArrivalNano: arrival, Digest: []byte("digest of " + key)}
}

func ref(key string, role shadowdiffv1.Role) PendingRef { return PendingRef{Key: key, Role: role} }

func apply(t *testing.T, s *Bolt, bs ...*Batch) {
	t.Helper()
	if err := s.Apply(bs...); err != nil {
		t.Fatal(err)
	}
}

// loaded lists the stored pending digests as "key/role@arrival", sorted,
// and checks their bytes.
func loaded(t *testing.T, s *Bolt) []string {
	t.Helper()
	var out []string
	err := s.LoadPending(func(p PendingDigest) error {
		if string(p.Digest) != "digest of "+p.Key {
			t.Errorf("digest of %s = %q", p.Key, p.Digest)
		}
		out = append(out, fmt.Sprintf("%s/%d@%d", p.Key, p.Role, p.ArrivalNano))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// entries counts the keys of a bucket.
func entries(t *testing.T, s *Bolt, bkt []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bkt).ForEach(func(_, _ []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPendingSegmentLifecycle(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, 3)
	apply(t, s, &Batch{PutPending: []PendingDigest{pd("a", rolePrimary, 1), pd("b", rolePrimary, 2), pd("c", rolePrimary, 3)}})
	apply(t, s, &Batch{DeletePending: []PendingRef{ref("b", rolePrimary), ref("zz", rolePrimary)}})
	if n := entries(t, s, bktPendingClosed); n != 1 {
		t.Errorf("%d bitmaps after closing one digest of three, want 1", n)
	}
	s.Close()

	// Reopened, a delete finds the digests without LoadPending first.
	s = openTest(t, dir, 3)
	defer s.Close()
	apply(t, s, &Batch{DeletePending: []PendingRef{ref("a", rolePrimary)}})
	if got := loaded(t, s); !slices.Equal(got, []string{"c/1@3"}) {
		t.Fatalf("pending = %v, want c only", got)
	}
	apply(t, s, &Batch{DeletePending: []PendingRef{ref("c", rolePrimary)}})
	if got := loaded(t, s); len(got) != 0 {
		t.Fatalf("pending = %v, want none", got)
	}
	if segs, tombs := entries(t, s, bktPendingSegments), entries(t, s, bktPendingClosed); segs != 0 || tombs != 0 {
		t.Errorf("%d segments and %d bitmaps left once every digest is closed", segs, tombs)
	}
}

// Digests closed in the transaction that puts them are never written; a
// digest put again replaces the stored one.
func TestPendingPutDeleteInOneTransaction(t *testing.T) {
	s := openTest(t, t.TempDir(), 3)
	defer s.Close()
	apply(t, s,
		&Batch{PutPending: []PendingDigest{pd("a", rolePrimary, 1), pd("b", rolePrimary, 1)}},
		&Batch{PutPending: []PendingDigest{pd("a", roleCandidate, 2)}, DeletePending: []PendingRef{ref("a", rolePrimary)}},
		&Batch{DeletePending: []PendingRef{ref("a", roleCandidate)}})
	if got := loaded(t, s); !slices.Equal(got, []string{"b/1@1"}) {
		t.Fatalf("pending = %v, want b only", got)
	}
	if n := entries(t, s, bktPendingClosed); n != 0 {
		t.Errorf("%d bitmaps for digests that were never written", n)
	}
	apply(t, s, &Batch{PutPending: []PendingDigest{pd("b", rolePrimary, 5)}})
	if got := loaded(t, s); !slices.Equal(got, []string{"b/1@5"}) {
		t.Fatalf("pending = %v, want the newer b", got)
	}
	apply(t, s, &Batch{DeletePending: []PendingRef{ref("b", rolePrimary)}})
	if segs := entries(t, s, bktPendingSegments); segs != 0 {
		t.Errorf("%d segments left", segs)
	}
}

func TestPendingSegmentsAreBounded(t *testing.T) {
	s := openTest(t, t.TempDir(), 3)
	defer s.Close()
	var b Batch
	for i := range maxSegmentDigests + 10 {
		b.PutPending = append(b.PutPending, pd(fmt.Sprint("k", i), rolePrimary, int64(i)))
	}
	apply(t, s, &b)
	if n := entries(t, s, bktPendingSegments); n != 2 {
		t.Errorf("%d segments for %d digests, want 2", n, len(b.PutPending))
	}
	if got := loaded(t, s); len(got) != len(b.PutPending) {
		t.Errorf("loaded %d digests, want %d", len(got), len(b.PutPending))
	}
}

// Digests stored by earlier versions, one entry each, still load and go.
func TestPendingLegacyEntries(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, 3)
	err := s.db.Update(func(tx *bolt.Tx) error {
		v := binary.BigEndian.AppendUint64(nil, 7)
		return tx.Bucket(bktPending).Put(pendingKey("old", roleCandidate), append(v, "digest of old"...))
	})
	if err != nil {
		t.Fatal(err)
	}
	apply(t, s, &Batch{PutPending: []PendingDigest{pd("new", rolePrimary, 8)}})
	if got := loaded(t, s); !slices.Equal(got, []string{"new/1@8", "old/3@7"}) {
		t.Fatalf("pending = %v", got)
	}
	apply(t, s, &Batch{DeletePending: []PendingRef{ref("old", roleCandidate)}})
	s.Close()
	s = openTest(t, dir, 3)
	defer s.Close()
	if got := loaded(t, s); !slices.Equal(got, []string{"new/1@8"}) {
		t.Fatalf("pending after reopen = %v", got)
	}
	if n := entries(t, s, bktPending); n != 0 {
		t.Errorf("%d legacy entries left", n)
	}
}
