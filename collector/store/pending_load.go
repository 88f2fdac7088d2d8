package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// A segment entry: uvarint key length, key, role, arrival (8), uvarint
// digest length, digest.
func segmentEntrySize(p PendingDigest) int {
	return 2*binary.MaxVarintLen64 + len(p.Key) + 9 + len(p.Digest)
}

func appendSegmentEntry(b []byte, p PendingDigest) []byte {
	b = lp(b, p.Key)
	b = append(b, byte(p.Role))
	b = binary.BigEndian.AppendUint64(b, uint64(p.ArrivalNano))
	b = binary.AppendUvarint(b, uint64(len(p.Digest)))
	return append(b, p.Digest...)
}

func readSegmentEntry(b []byte) (PendingDigest, []byte, error) {
	var p PendingDigest
	var err error
	if p.Key, b, err = readLP(b); err != nil || len(b) < 9 {
		return p, nil, errBadKey
	}
	p.Role = shadowdiffv1.Role(b[0])
	p.ArrivalNano = int64(binary.BigEndian.Uint64(b[1:9]))
	n, k := binary.Uvarint(b[9:])
	if k <= 0 || uint64(len(b)-9-k) < n {
		return p, nil, errBadKey
	}
	start := 9 + k
	p.Digest = append([]byte(nil), b[start:start+int(n)]...)
	return p, b[start+int(n):], nil
}

// loadPending calls fn (when not nil) for every stored pending digest and
// rebuilds the index.
func (x *pendingIndex) load(tx *bolt.Tx, fn func(p PendingDigest) error) error {
	x.slots, x.live, x.closed, x.loaded = map[PendingRef]slot{}, map[uint64]int{}, map[uint64][]byte{}, false
	emit := func(p PendingDigest, s slot) error {
		x.slots[PendingRef{Key: p.Key, Role: p.Role}] = s
		if fn == nil {
			return nil
		}
		return fn(p)
	}
	err := tx.Bucket(bktPending).ForEach(func(k, v []byte) error {
		if len(k) < 2 || k[len(k)-2] != 0 || len(v) < 8 {
			return fmt.Errorf("store: pending entry %q: %w", k, errBadKey)
		}
		return emit(PendingDigest{Key: string(k[:len(k)-2]), Role: shadowdiffv1.Role(k[len(k)-1]),
			ArrivalNano: int64(binary.BigEndian.Uint64(v)), Digest: append([]byte(nil), v[8:]...)}, slot{})
	})
	if err != nil {
		return err
	}
	closed := tx.Bucket(bktPendingClosed)
	segs := tx.Bucket(bktPendingSegments)
	err = segs.ForEach(func(k, _ []byte) error {
		sb := segs.Bucket(k)
		if len(k) != 8 || sb == nil {
			return fmt.Errorf("store: pending segment key %x: %w", k, errBadKey)
		}
		seg, v := binary.BigEndian.Uint64(k), sb.Get(segmentValue)
		var dead []byte
		if bm := closed.Get(k); bm != nil {
			if len(bm) != closedBitmapLen {
				return fmt.Errorf("store: closed digests of pending segment %d: %w", seg, errBadKey)
			}
			dead = bytes.Clone(bm)
			x.closed[seg] = dead
		}
		for idx := uint32(0); len(v) > 0; idx++ {
			p, rest, err := readSegmentEntry(v)
			if err != nil {
				return fmt.Errorf("store: pending segment %d entry %d: %w", seg, idx, err)
			}
			v = rest
			if dead != nil && dead[idx/8]&(1<<(idx%8)) != 0 {
				continue
			}
			x.live[seg]++
			if err := emit(p, slot{seg: seg, idx: idx}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	x.loaded = true
	return nil
}
