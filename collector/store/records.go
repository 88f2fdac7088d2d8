package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Records are written in segments: the records of one transaction are one
// value of the record_segments bucket, so a transaction writes them once
// and sequentially. Before, each record was a put into a B-tree keyed by
// pairing key, a put into a time index and a lookup for a reused key:
// three tree operations per request, ~20% of the collector's CPU at full
// ingest. Now a record costs one small put into record_keys, which maps
// its pairing key to its segment and offset.
//
// A segment's entry the index no longer points to (its key was written
// again, or the record was deleted) is dead; a segment without a live
// entry is deleted. Segments sort by their oldest record, so a deletion by
// age reads only the segments that hold an old record. Records of earlier
// versions (the records and record_time buckets) are still read and
// deleted (legacyRecords).

// recordSegmentKeyLen is a segment's key: the oldest record's time (see
// putTime) and a sequence number.
const recordSegmentKeyLen = 16

// recordRefLen is a record_keys value: the segment's key and the entry's
// offset in the segment.
const recordRefLen = recordSegmentKeyLen + 4

// recordEntry is one record of a segment. In the segment it is the
// pairing key and the endpoint (each a uvarint length and the bytes), the
// time (8 bytes, putTime), and the encoded RequestRecord (a uvarint length
// and the bytes).
type recordEntry struct {
	key, endpoint []byte
	nano          int64
	rec           []byte
}

// parseRecordEntry reads the entry at off of seg and returns the offset
// of the next one.
func parseRecordEntry(seg []byte, off int) (e recordEntry, next int, err error) {
	if off < 0 || off >= len(seg) {
		return e, 0, fmt.Errorf("record entry at %d of a %d-byte segment: %w", off, len(seg), errBadKey)
	}
	b := seg[off:]
	var ok bool
	if e.key, b, ok = cutLP(b); !ok {
		return e, 0, fmt.Errorf("record entry at %d: key: %w", off, errBadKey)
	}
	if e.endpoint, b, ok = cutLP(b); !ok || len(b) < 8 {
		return e, 0, fmt.Errorf("record entry at %d: endpoint: %w", off, errBadKey)
	}
	e.nano, b = getTime(b), b[8:]
	if e.rec, b, ok = cutLP(b); !ok {
		return e, 0, fmt.Errorf("record entry at %d: record: %w", off, errBadKey)
	}
	return e, len(seg) - len(b), nil
}

// eachRecordEntry calls fn with every entry of the segment with key segKey
// and value seg, and the record_keys value that points to it; it stops at
// fn's first error, which it returns as fn gave it.
func eachRecordEntry(segKey, seg []byte, fn func(ref [recordRefLen]byte, e recordEntry) error) error {
	for off := 0; off < len(seg); {
		e, next, err := parseRecordEntry(seg, off)
		if err != nil {
			return fmt.Errorf("record segment %x: %w", segKey, err)
		}
		if err := fn(recordRef(segKey, off), e); err != nil {
			return err
		}
		off = next
	}
	return nil
}

// segmentSpan bounds the times of a segment's records. A deletion by age
// that ends inside a segment leaves it in place for its younger records,
// and every later deletion reads it again: without a bound, one record
// with a skewed clock in each transaction would keep nearly every segment
// in every retention walk.
const segmentSpan = int64(time.Minute)

// putRecords writes recs as segments, one per segmentSpan of their times,
// and stages their keys (keyindex.go); of records of the same key only the
// last is written: it replaces the others. It returns, by key, the index
// in recs of the record written.
func putRecords(tx *bolt.Tx, recs []*shadowdiffv1.RequestRecord, arena *txArena, st *keyStage) (last map[string]int, err error) {
	if len(recs) == 0 {
		return nil, nil
	}
	sb := tx.Bucket(bktRecordSegments)
	times := make([]int64, len(recs))
	order := make([]int, 0, len(recs))
	last = make(map[string]int, len(recs))
	for i, r := range recs {
		if len(r.PairingKey) == 0 || len(r.PairingKey) > bolt.MaxKeySize {
			return nil, fmt.Errorf("record key %q: %d bytes, want 1 to %d", r.PairingKey, len(r.PairingKey), bolt.MaxKeySize)
		}
		last[r.PairingKey] = i
	}
	for i, r := range recs {
		times[i] = r.GetTime().AsTime().UnixNano()
		if last[r.PairingKey] == i {
			order = append(order, i)
		}
	}
	span := func(i int) int64 { return floorDiv(times[i], segmentSpan) }
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(span(a), span(b)) })
	for start := 0; start < len(order); {
		end := start + 1
		for end < len(order) && span(order[end]) == span(order[start]) {
			end++
		}
		if err := putSegment(sb, recs, times, order[start:end], st, arena); err != nil {
			return nil, err
		}
		start = end
	}
	return last, nil
}

// recordRef is the record_keys value of the entry at off of the segment
// with key segKey.
func recordRef(segKey []byte, off int) (ref [recordRefLen]byte) {
	copy(ref[:], segKey)
	binary.BigEndian.PutUint32(ref[recordSegmentKeyLen:], uint32(off))
	return ref
}

// putSegment writes the records recs[i] for i in which as one segment and
// stages their keys.
func putSegment(sb *bolt.Bucket, recs []*shadowdiffv1.RequestRecord, times []int64, which []int, st *keyStage, arena *txArena) error {
	oldest := int64(math.MaxInt64)
	total := 0
	sizes := make([]int, len(which))
	for n, i := range which {
		r := recs[i]
		oldest = min(oldest, times[i])
		sizes[n] = r.SizeVT()
		total += lpSize(r.PairingKey) + lpSize(r.Endpoint) + 8 + protowire.SizeVarint(uint64(sizes[n])) + sizes[n]
	}
	seq, err := sb.NextSequence()
	if err != nil {
		return fmt.Errorf("record segment sequence: %w", err)
	}
	segKey := binary.BigEndian.AppendUint64(putTime(arena.take(recordSegmentKeyLen)[:0], oldest), seq)
	seg := arena.take(total)[:0]
	for n, i := range which {
		r := recs[i]
		off := len(seg)
		seg = lp(seg, r.PairingKey)
		seg = lp(seg, r.Endpoint)
		seg = putTime(seg, times[i])
		seg = binary.AppendUvarint(seg, uint64(sizes[n]))
		end := len(seg) + sizes[n]
		if _, err := r.MarshalToSizedBufferVT(seg[len(seg):end]); err != nil {
			return fmt.Errorf("encode record %q: %w", r.PairingKey, err)
		}
		seg = seg[:end]
		st.puts[r.PairingKey] = keyRef{ref: recordRef(segKey, off), nano: times[i]}
	}
	b, err := sb.CreateBucket(segKey) // a bucket of its own, as pending segments (see segmentValue)
	if err == nil {
		err = b.Put(segmentValue, seg)
	}
	if err != nil {
		return fmt.Errorf("put record segment: %w", err)
	}
	return nil
}

// floorDiv is a / b rounded down (b > 0), for times before 1970 too.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// recordSegment returns the value of the segment with key k, nil if none.
func recordSegment(sb *bolt.Bucket, k []byte) []byte {
	if b := sb.Bucket(k); b != nil {
		return b.Get(segmentValue)
	}
	return nil
}

// recordAt returns the record entry ref points to (from record_keys or
// the keys waiting for it; ok false: none), valid for the transaction.
func recordAt(tx *bolt.Tx, key string, ref []byte) (e recordEntry, ok bool, err error) {
	if ref == nil {
		return e, false, nil
	}
	if len(ref) != recordRefLen {
		return e, false, fmt.Errorf("record key %q: reference %x: %w", key, ref, errBadKey)
	}
	seg := recordSegment(tx.Bucket(bktRecordSegments), ref[:recordSegmentKeyLen])
	if seg == nil {
		return e, false, fmt.Errorf("record key %q: segment %x is missing: %w", key, ref[:recordSegmentKeyLen], errBadKey)
	}
	e, _, err = parseRecordEntry(seg, int(binary.BigEndian.Uint32(ref[recordSegmentKeyLen:])))
	if err != nil {
		return e, false, fmt.Errorf("record key %q: %w", key, err)
	}
	return e, true, nil
}

// deleteRecords deletes the live records older than before whose endpoint
// matches, from the segments and from legacy buckets, and counts them.
// Keys that wait (st) must not be among them: see keyStage.needsAll.
func deleteRecords(tx *bolt.Tx, before int64, match func(endpoint []byte) bool, st *keyStage) (uint64, error) {
	n, err := deleteSegmentRecords(tx, before, match, st)
	if err != nil {
		return 0, err
	}
	m, err := deleteLegacyRecords(tx, before, match, st)
	return n + m, err
}

func deleteSegmentRecords(tx *bolt.Tx, before int64, match func(endpoint []byte) bool, st *keyStage) (uint64, error) {
	sb, kb, rb := tx.Bucket(bktRecordSegments), tx.Bucket(bktRecordKeys), tx.Bucket(bktRecords)
	// A deleted record's legacy copy, one it replaced, goes with it (its
	// time entry, seen without its record, goes with the legacy records).
	legacy, _ := rb.Cursor().First()
	var (
		n        uint64
		doomed   [][]byte
		liveKeys [][]byte
	)
	c := sb.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		seg := recordSegment(sb, k)
		if len(k) != recordSegmentKeyLen || seg == nil {
			return 0, fmt.Errorf("record segment key %x: %w", k, errBadKey)
		}
		if getTime(k) >= before {
			break // this segment and every later one hold no older record
		}
		live := 0
		liveKeys = liveKeys[:0]
		err := eachRecordEntry(k, seg, func(ref [recordRefLen]byte, e recordEntry) error {
			switch {
			case !bytes.Equal(st.ref(kb, e.key), ref[:]):
				// dead: replaced or deleted
			case e.nano < before && match(e.endpoint):
				if st.waits(e.key) {
					return fmt.Errorf("record %q: deleted while its key waits for the index", e.key)
				}
				liveKeys = append(liveKeys, e.key)
			default:
				live++
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		// Deleted after the walk: the keys point into seg, which a
		// change to record_keys leaves alone (another bucket).
		for _, key := range liveKeys {
			if err := kb.Delete(key); err != nil {
				return 0, fmt.Errorf("delete record key %q: %w", key, err)
			}
			if legacy != nil {
				if err := rb.Delete(key); err != nil {
					return 0, fmt.Errorf("delete legacy record %q: %w", key, err)
				}
			}
		}
		n += uint64(len(liveKeys))
		if live == 0 {
			doomed = append(doomed, bytes.Clone(k))
		}
	}
	for _, k := range doomed {
		if err := sb.DeleteBucket(k); err != nil {
			return 0, fmt.Errorf("delete record segment %x: %w", k, err)
		}
	}
	return n, nil
}

// deleteLegacyRecords deletes records of earlier versions, which kept each
// in the records bucket under its pairing key with a time index. One whose
// key has since been written to a segment is replaced: it goes, uncounted,
// and so does a time entry whose record went with its replacement.
func deleteLegacyRecords(tx *bolt.Tx, before int64, match func(endpoint []byte) bool, st *keyStage) (uint64, error) {
	rb, tb, kb := tx.Bucket(bktRecords), tx.Bucket(bktRecordTime), tx.Bucket(bktRecordKeys)
	var (
		n      uint64
		doomed [][]byte
	)
	c := tb.Cursor()
	for k, ep := c.First(); k != nil; k, ep = c.Next() {
		if len(k) < 8 {
			return 0, fmt.Errorf("record time key %x: %w", k, errBadKey)
		}
		if getTime(k[:8]) >= before {
			break
		}
		replaced := st.ref(kb, k[8:]) != nil || rb.Get(k[8:]) == nil
		if replaced || match(ep) {
			doomed = append(doomed, bytes.Clone(k))
			if !replaced {
				n++
			}
		}
	}
	for _, k := range doomed {
		if err := tb.Delete(k); err != nil {
			return 0, err
		}
		if err := rb.Delete(k[8:]); err != nil {
			return 0, err
		}
	}
	return n, nil
}
