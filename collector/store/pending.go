package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Pending digests are written in segments: the digests one transaction
// puts (up to maxSegmentDigests), in one value in a bucket named by a
// sequence number, so they are written once
// and sequentially instead of as an entry each in the middle of a B-tree
// (page splits on put, merges on delete). The digests of a segment that
// are closed are marked in a bitmap per segment (one small write per
// segment and transaction); a segment whose digests are all closed is
// deleted with its bitmap. Digests put and deleted within one
// transaction are not written at all. Entries of the pending bucket, where
// earlier versions kept each digest, are still loaded and deleted.

// maxSegmentDigests bounds a segment, so one late digest keeps little
// else on disk.
const maxSegmentDigests = 256

// slot is where a pending digest is stored.
type slot struct {
	seg uint64 // segment sequence; 0 for an entry of the pending bucket
	idx uint32 // position in the segment
}

// staged marks a slot of a digest put by the current transaction (idx
// into the stage's fresh digests); closedRef, in a stage, one the
// transaction closed.
const (
	staged    = ^uint64(0)
	closedRef = staged - 1
)

// pendingIndex locates every stored pending digest and counts the open
// digests of each segment. Loaded from the store on first use; changed
// only by committed transactions (see pendingStage). Guarded by the
// store's writeMu.
type pendingIndex struct {
	loaded bool
	slots  map[PendingRef]slot
	live   map[uint64]int
	closed map[uint64][]byte // bitmaps of the segments with closed digests
}

// closedBitmapLen is the size of a segment's bitmap of closed digests.
const closedBitmapLen = (maxSegmentDigests + 7) / 8

// pendingStage is the pending part of one transaction.
type pendingStage struct {
	x     *pendingIndex
	slots map[PendingRef]slot // refs put or closed by the transaction
	live  map[uint64]int      // open digests of the segments touched
	// closed holds the new bitmaps of the segments touched (nil: the
	// segment was deleted).
	closed map[uint64][]byte
	fresh  []freshDigest
}

type freshDigest struct {
	p       PendingDigest
	dropped bool
}

func (x *pendingIndex) stage() *pendingStage {
	return &pendingStage{x: x, slots: map[PendingRef]slot{}, live: map[uint64]int{}, closed: map[uint64][]byte{}}
}

func (st *pendingStage) lookup(r PendingRef) (slot, bool) {
	if s, ok := st.slots[r]; ok {
		return s, s.seg != closedRef
	}
	s, ok := st.x.slots[r]
	return s, ok
}

// put stages a digest; a digest already stored under its ref is closed.
func (st *pendingStage) put(tx *bolt.Tx, p PendingDigest) error {
	r := PendingRef{Key: p.Key, Role: p.Role}
	if err := st.delete(tx, r); err != nil {
		return err
	}
	st.slots[r] = slot{seg: staged, idx: uint32(len(st.fresh))}
	st.fresh = append(st.fresh, freshDigest{p: p})
	return nil
}

// delete closes the digest stored under r, if any.
func (st *pendingStage) delete(tx *bolt.Tx, r PendingRef) error {
	s, ok := st.lookup(r)
	if !ok {
		return nil
	}
	st.slots[r] = slot{seg: closedRef}
	switch s.seg {
	case staged:
		st.fresh[s.idx].dropped = true
		return nil
	case 0:
		if err := tx.Bucket(bktPending).Delete(pendingKey(r.Key, r.Role)); err != nil {
			return fmt.Errorf("delete pending %q: %w", r.Key, err)
		}
		return nil
	}
	n, ok := st.live[s.seg]
	if !ok {
		n = st.x.live[s.seg]
	}
	st.live[s.seg] = n - 1
	if n > 1 {
		bm, ok := st.closed[s.seg]
		if !ok {
			bm = make([]byte, closedBitmapLen)
			copy(bm, st.x.closed[s.seg])
			st.closed[s.seg] = bm
		}
		bm[s.idx/8] |= 1 << (s.idx % 8)
		return nil
	}
	st.closed[s.seg] = nil
	return deleteSegment(tx, s.seg)
}

// deleteSegment deletes a segment and its bitmap.
func deleteSegment(tx *bolt.Tx, seg uint64) error {
	key := binary.BigEndian.AppendUint64(nil, seg)
	if err := tx.Bucket(bktPendingSegments).DeleteBucket(key); err != nil {
		return fmt.Errorf("delete pending segment %d: %w", seg, err)
	}
	if err := tx.Bucket(bktPendingClosed).Delete(key); err != nil {
		return fmt.Errorf("delete closed digests of segment %d: %w", seg, err)
	}
	return nil
}

// writeClosed stores the bitmaps of the segments that are still there.
func (st *pendingStage) writeClosed(tx *bolt.Tx) error {
	b := tx.Bucket(bktPendingClosed)
	for seg, bm := range st.closed {
		if bm == nil {
			continue
		}
		if err := b.Put(binary.BigEndian.AppendUint64(nil, seg), bm); err != nil {
			return fmt.Errorf("mark closed digests of segment %d: %w", seg, err)
		}
	}
	return nil
}

// segmentValue is the key of a segment's one value in its bucket. Each
// segment is a bucket of its own so that its pages are written once: a
// large value next to others in a leaf would be written again with every
// change to that leaf.
var segmentValue = []byte{0}

// write stores the digests put and not closed again by the transaction,
// and the closed marks; segment values are taken from arena.
func (st *pendingStage) write(tx *bolt.Tx, arena *txArena) error {
	if err := st.writeClosed(tx); err != nil {
		return err
	}
	var live []PendingDigest
	for _, f := range st.fresh {
		if !f.dropped {
			live = append(live, f.p)
		}
	}
	b := tx.Bucket(bktPendingSegments)
	for len(live) > 0 {
		n := min(len(live), maxSegmentDigests)
		seg, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("pending segment sequence: %w", err)
		}
		size := 0
		for _, p := range live[:n] {
			size += segmentEntrySize(p)
		}
		val := arena.take(size)[:0]
		for i, p := range live[:n] {
			val = appendSegmentEntry(val, p)
			st.slots[PendingRef{Key: p.Key, Role: p.Role}] = slot{seg: seg, idx: uint32(i)}
		}
		sb, err := b.CreateBucket(binary.BigEndian.AppendUint64(nil, seg))
		if err == nil {
			err = sb.Put(segmentValue, val)
		}
		if err != nil {
			return fmt.Errorf("put pending segment %d: %w", seg, err)
		}
		st.live[seg] = n
		live = live[n:]
	}
	return nil
}

// commit publishes the stage once its transaction is durable.
func (st *pendingStage) commit() {
	for r, s := range st.slots {
		if s.seg == closedRef {
			delete(st.x.slots, r)
		} else {
			st.x.slots[r] = s
		}
	}
	for seg, n := range st.live {
		if n > 0 {
			st.x.live[seg] = n
		} else {
			delete(st.x.live, seg)
		}
	}
	for seg, bm := range st.closed {
		if bm != nil {
			st.x.closed[seg] = bm
		} else {
			delete(st.x.closed, seg)
		}
	}
}
