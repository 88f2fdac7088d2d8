package store

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// The record_keys index is written late. Pairing keys are as random as
// UUIDs, so a put into the index of every record as it is written dirties
// a page of the index per record: ~35% of the collector's CPU with 192k
// stored requests. Instead, the keys of new records wait in memory
// (keyIndex.waiting) and are written in runs: once enough wait, they are
// sorted and each transaction writes the next slice of them, so that a
// page of the index takes many keys at once.
//
// Nothing is lost on a crash: the segments are durable and hold their
// keys, and record_keys_through in the meta bucket says up to which
// segment sequence every key is in the index; opening the store reads the
// later segments' keys again. A deletion never takes a record whose key
// waits (it writes them all first when it would), so reading the later
// segments again cannot bring a deleted record back; a transaction's
// records have one key each (the last record of a key wins before it is
// written), so reading them in sequence order gives each key its latest
// record.

const (
	keyRunMin   = 1 << 16 // waiting keys that start a run
	keyChunkMin = 1024    // keys a transaction writes during a run, at least
)

var metaKeysThrough = []byte("record_keys_through")

// keyRef is where a key's record is, and its time.
type keyRef struct {
	ref  [recordRefLen]byte
	nano int64
}

// keyIndex holds the keys of the records not yet in record_keys. It is
// changed, under mu, once a transaction that changed it is durable (see
// keyStage); Record reads it under mu's read lock while its own read
// transaction is open, so it sees a key either here or in the index.
type keyIndex struct {
	mu       sync.RWMutex
	waiting  map[string]keyRef
	through  uint64   // record_keys has every key of the segments up to this sequence
	run      []string // the run being written, sorted
	next     int      // run[:next] is written
	runSeq   uint64   // the segments the run covers: up to this sequence
	runMin   int
	chunkMin int
}

func newKeyIndex(runMin, chunkMin int) *keyIndex {
	if runMin <= 0 {
		runMin = keyRunMin
	}
	if chunkMin <= 0 {
		chunkMin = keyChunkMin
	}
	return &keyIndex{waiting: map[string]keyRef{}, runMin: runMin, chunkMin: chunkMin}
}

// load reads through and the keys of the segments after it.
func (x *keyIndex) load(tx *bolt.Tx) error {
	sb := tx.Bucket(bktRecordSegments)
	if v := tx.Bucket(bktMeta).Get(metaKeysThrough); len(v) == 8 {
		x.through = binary.BigEndian.Uint64(v)
	} else {
		// Written before keys waited: every live key is in record_keys,
		// and the segments also hold dead entries that must not return.
		x.through = sb.Sequence()
		if err := tx.Bucket(bktMeta).Put(metaKeysThrough, binary.BigEndian.AppendUint64(nil, x.through)); err != nil {
			return fmt.Errorf("put %s: %w", metaKeysThrough, err)
		}
	}
	var later [][]byte // keys of the segments after through
	c := sb.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) != recordSegmentKeyLen {
			return fmt.Errorf("record segment key %x: %w", k, errBadKey)
		}
		if segmentSeq(k) > x.through {
			later = append(later, k)
		}
	}
	slices.SortFunc(later, func(a, b []byte) int { return cmp.Compare(segmentSeq(a), segmentSeq(b)) })
	for _, k := range later {
		err := eachRecordEntry(k, recordSegment(sb, k), func(ref [recordRefLen]byte, e recordEntry) error {
			x.waiting[string(e.key)] = keyRef{ref: ref, nano: e.nano}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ref returns the record_keys value of key as a reader sees it in tx: its
// waiting reference, or the index's. Call with mu read-locked for all of
// tx: a key leaves waiting only once it is in record_keys of a committed
// transaction. A waiting key whose segment is gone was written by a
// deletion that committed after tx began (Clear writes every key first):
// record_keys then answers for it (written, or deleted with its record).
func (x *keyIndex) ref(tx *bolt.Tx, key string) []byte {
	if r, ok := x.waiting[key]; ok && recordSegment(tx.Bucket(bktRecordSegments), r.ref[:recordSegmentKeyLen]) != nil {
		return r.ref[:]
	}
	return tx.Bucket(bktRecordKeys).Get([]byte(key))
}

func segmentSeq(k []byte) uint64 { return binary.BigEndian.Uint64(k[8:recordSegmentKeyLen]) }

// writtenKey is a key written to record_keys, and what it points to.
type writtenKey struct {
	key string
	ref [recordRefLen]byte
}

// keyStage is one transaction's change to the index. Used under the
// store's writeMu.
type keyStage struct {
	x       *keyIndex
	puts    map[string]keyRef // records written (the last of a key wins)
	written []writtenKey      // keys written to record_keys
	all     bool              // every waiting key was written
	run     []string
	next    int
	runSeq  uint64
	through uint64
}

func (x *keyIndex) stage() *keyStage {
	return &keyStage{x: x, puts: map[string]keyRef{}, run: x.run, next: x.next, runSeq: x.runSeq, through: x.through}
}

// ref returns the reference of key as of the transaction, nil if none
// (deletions use it; they put no records).
func (st *keyStage) ref(kb *bolt.Bucket, key []byte) []byte {
	if !st.all {
		if r, ok := st.x.waiting[string(key)]; ok {
			return r.ref[:]
		}
	}
	return kb.Get(key)
}

// waits reports whether key's latest record is not in record_keys yet.
func (st *keyStage) waits(key []byte) bool {
	_, ok := st.x.waiting[string(key)]
	return ok && !st.all
}

// writeChunk writes the next keys of the current run, at least inflow
// of them (the records this transaction adds), starting a run when enough
// keys wait. Call before the transaction puts records.
func (st *keyStage) writeChunk(tx *bolt.Tx, inflow int) error {
	if st.next >= len(st.run) {
		if len(st.x.waiting) < st.x.runMin {
			return nil
		}
		st.run = slices.Sorted(maps.Keys(st.x.waiting))
		st.next = 0
		st.runSeq = tx.Bucket(bktRecordSegments).Sequence()
	}
	end := min(len(st.run), st.next+max(st.x.chunkMin, 2*inflow))
	if err := st.write(tx, st.run[st.next:end]); err != nil {
		return err
	}
	st.next = end
	if st.next == len(st.run) {
		return st.setThrough(tx, st.runSeq)
	}
	return nil
}

// writeAll writes every waiting key; deletions call it first when they
// could take a record whose key waits.
func (st *keyStage) writeAll(tx *bolt.Tx) error {
	if err := st.write(tx, slices.Sorted(maps.Keys(st.x.waiting))); err != nil {
		return err
	}
	st.all, st.run, st.next = true, nil, 0
	return st.setThrough(tx, tx.Bucket(bktRecordSegments).Sequence())
}

func (st *keyStage) write(tx *bolt.Tx, keys []string) error {
	kb := tx.Bucket(bktRecordKeys)
	for _, k := range keys {
		r, ok := st.x.waiting[k]
		if !ok {
			continue // written since the run began
		}
		if err := kb.Put([]byte(k), r.ref[:]); err != nil {
			return fmt.Errorf("put record key %q: %w", k, err)
		}
		st.written = append(st.written, writtenKey{k, r.ref})
	}
	return nil
}

func (st *keyStage) setThrough(tx *bolt.Tx, seq uint64) error {
	st.through = max(st.through, seq)
	if err := tx.Bucket(bktMeta).Put(metaKeysThrough, binary.BigEndian.AppendUint64(nil, st.through)); err != nil {
		return fmt.Errorf("put %s: %w", metaKeysThrough, err)
	}
	return nil
}

// needsAll reports whether deleting records older than before could take
// one whose key waits: one in a segment after through.
func (st *keyStage) needsAll(tx *bolt.Tx, before int64) bool {
	c := tx.Bucket(bktRecordSegments).Cursor()
	for k, _ := c.First(); k != nil && len(k) == recordSegmentKeyLen && getTime(k) < before; k, _ = c.Next() {
		if segmentSeq(k) > st.through {
			return true
		}
	}
	return false
}

// commit publishes the stage once its transaction is durable.
func (st *keyStage) commit() {
	x := st.x
	x.mu.Lock()
	defer x.mu.Unlock()
	if st.all {
		clear(x.waiting)
	} else {
		for _, w := range st.written {
			if r, ok := x.waiting[w.key]; ok && r.ref == w.ref {
				delete(x.waiting, w.key)
			}
		}
	}
	for k, r := range st.puts {
		x.waiting[k] = r
	}
	x.run, x.next, x.runSeq, x.through = st.run, st.next, st.runSeq, st.through
}
