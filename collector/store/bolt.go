package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// FileName is the database file inside the data directory.
const FileName = "shadowdiff.db"

// Bolt is the embedded Store on a single bbolt file.
type Bolt struct {
	db      *bolt.DB
	writeMu sync.Mutex // serialises writers so staged index changes apply in order
	samples *sampleIndex
	pending pendingIndex
	keys    *keyIndex
	arena   txArena // values of the transaction in Apply
}

var _ Store = (*Bolt)(nil)

// BoltOptions configure OpenBolt.
type BoltOptions struct {
	// SamplesPerField bounds the samples kept per (endpoint, field) and
	// per kind of evidence (definite or not). Default 20.
	SamplesPerField int

	// Bounds of the runs in which record keys are written (keyindex.go);
	// tests set them low. Defaults keyRunMin and keyChunkMin.
	keyRunMin, keyChunkMin int
}

// lockTimeout is how long OpenBolt waits for the database file's lock
// (flock), which another process holding the file keeps.
const lockTimeout = 2 * time.Second

// OpenBolt opens or creates the store in dir.
func OpenBolt(dir string, opts BoltOptions) (*Bolt, error) {
	if opts.SamplesPerField <= 0 {
		opts.SamplesPerField = 20
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{
		Timeout:        lockTimeout, // another process holds the file
		NoFreelistSync: true,        // faster commits; the freelist is rebuilt on open
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("store: the database in %s is locked by another process (is another collector using this data dir?): no lock on %s within %s: %w",
			dir, FileName, lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", filepath.Join(dir, FileName), err)
	}
	s := &Bolt{db: db, samples: newSampleIndex(opts.SamplesPerField), keys: newKeyIndex(opts.keyRunMin, opts.keyChunkMin)}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if err := s.keys.load(tx); err != nil {
			return fmt.Errorf("load record keys: %w", err)
		}
		return tx.Bucket(bktSamples).ForEach(func(k, _ []byte) error {
			r, err := parseSampleKey(k)
			if err != nil {
				return fmt.Errorf("sample key %x: %w", k, err)
			}
			s.samples.load(r)
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: initialise: %w", err)
	}
	return s, nil
}

// Close closes the database file.
func (s *Bolt) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Apply writes the batches, in order, in one durable transaction.
func (s *Bolt) Apply(bs ...*Batch) error {
	empty := true
	for _, b := range bs {
		empty = empty && b.Empty()
	}
	if empty {
		return nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	st := s.samples.stage()
	kst := s.keys.stage()
	var pst *pendingStage
	defer s.arena.reset() // after Update: bbolt holds the values until then
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if pst, err = s.applyPending(tx, bs); err != nil {
			return err
		}
		recs := records(bs)
		if err := kst.writeChunk(tx, len(recs)); err != nil {
			return err
		}
		last, err := putRecords(tx, recs, &s.arena, kst)
		if err != nil {
			return err
		}
		live := liveRecords{recs: recs, last: last}
		if err := dropReplaced(tx, st, live); err != nil {
			return err
		}
		for _, b := range bs {
			if err := applyBatch(tx, st, b, live); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: apply batch: %w", err)
	}
	st.commit()
	pst.commit()
	kst.commit()
	return nil
}

// applyPending puts and deletes the pending digests of the batches, in
// order, and returns the changes to the index.
func (s *Bolt) applyPending(tx *bolt.Tx, bs []*Batch) (*pendingStage, error) {
	if !s.pending.loaded {
		if err := s.pending.load(tx, nil); err != nil {
			return nil, fmt.Errorf("load pending index: %w", err)
		}
	}
	pst := s.pending.stage()
	for _, b := range bs {
		for _, p := range b.PutPending {
			if err := pst.put(tx, p); err != nil {
				return nil, err
			}
		}
		for _, r := range b.DeletePending {
			if err := pst.delete(tx, r); err != nil {
				return nil, err
			}
		}
	}
	return pst, pst.write(tx, &s.arena)
}

// records are the records of bs, in order: one segment for the
// transaction.
func records(bs []*Batch) []*shadowdiffv1.RequestRecord {
	var recs []*shadowdiffv1.RequestRecord
	for _, b := range bs {
		if len(recs) == 0 && len(b.Records) > 0 {
			recs = b.Records[:len(b.Records):len(b.Records)] // appending copies
			continue
		}
		recs = append(recs, b.Records...)
	}
	return recs
}

// liveRecords are the records a transaction writes: recs[last[key]] is
// the one of key that stays.
type liveRecords struct {
	recs []*shadowdiffv1.RequestRecord
	last map[string]int
}

// of returns the record of key the transaction writes, nil if none.
func (l liveRecords) of(key string) *shadowdiffv1.RequestRecord {
	if i, ok := l.last[key]; ok {
		return l.recs[i]
	}
	return nil
}

// dropReplaced deletes the samples of the requests whose key the records
// take, and their full records with the last of them. Kept, they would
// show the new request's record under the old one's endpoint, or keep the
// old full record in the place of the new request's (Record reads it
// first). A record of the same request (same endpoint and time) keeps
// them.
func dropReplaced(tx *bolt.Tx, st *sampleStage, live liveRecords) error {
	keys := st.referenced(live.last) // few: most records are of new keys
	if len(keys) == 0 {
		return nil
	}
	sb := tx.Bucket(bktSamples)
	touched := make(map[string]bool, len(keys))
	for _, key := range keys {
		rec := live.of(key)
		for _, r := range st.dropKey(key, func(r SampleRef) bool { return !r.Matches(rec) }) {
			if err := sb.Delete(sampleKey(r)); err != nil {
				return fmt.Errorf("delete sample of replaced request %q: %w", key, err)
			}
			touched[key] = true
		}
	}
	return syncFull(tx.Bucket(bktFull), st, touched, nil)
}

func applyBatch(tx *bolt.Tx, st *sampleStage, b *Batch, live liveRecords) error {
	if err := applySamples(tx, st, b.Samples, b.Full, live); err != nil {
		return err
	}
	return applyBuckets(tx, b.Buckets, b.DeleteBuckets)
}

// applySamples adds sample refs and writes the full records they need. A
// ref or full record of a request that a later record of its key in the
// same transaction replaced is left out, as dropReplaced would delete it.
func applySamples(tx *bolt.Tx, st *sampleStage, refs []SampleRef, full []*shadowdiffv1.RequestRecord, live liveRecords) error {
	sb, fb := tx.Bucket(bktSamples), tx.Bucket(bktFull)
	touched := map[string]bool{}
	for _, r := range refs {
		if rec := live.of(r.Key); rec != nil && !r.Matches(rec) {
			continue
		}
		in, ev := st.add(r)
		if ev != nil {
			if err := sb.Delete(sampleKey(*ev)); err != nil {
				return fmt.Errorf("delete sample: %w", err)
			}
			touched[ev.Key] = true
		}
		if in {
			if err := sb.Put(sampleKey(r), nil); err != nil {
				return fmt.Errorf("put sample: %w", err)
			}
			touched[r.Key] = true
		}
	}
	byKey := make(map[string]*shadowdiffv1.RequestRecord, len(full))
	for _, f := range full {
		if rec := live.of(f.PairingKey); rec == nil || sameRequest(f, rec) {
			byKey[f.PairingKey] = f
		}
	}
	return syncFull(fb, st, touched, byKey)
}

// syncFull writes the full records of requests whose samples changed and
// deletes those no sample refers to any more. A full record written
// replaces the one of its key: the samples of an earlier request with
// that key are gone (dropReplaced).
func syncFull(fb *bolt.Bucket, st *sampleStage, touched map[string]bool, byKey map[string]*shadowdiffv1.RequestRecord) error {
	for key := range touched {
		if st.refCount(key) <= 0 {
			if err := fb.Delete([]byte(key)); err != nil {
				return fmt.Errorf("delete full record %q: %w", key, err)
			}
			continue
		}
		f := byKey[key]
		if f == nil {
			continue
		}
		data, err := f.MarshalVT()
		if err != nil {
			return fmt.Errorf("encode full record %q: %w", key, err)
		}
		if err := fb.Put([]byte(key), data); err != nil {
			return fmt.Errorf("put full record %q: %w", key, err)
		}
	}
	return nil
}

func applyBuckets(tx *bolt.Tx, put []*Bucket, del []BucketRef) error {
	ab := tx.Bucket(bktAggregates)
	for _, r := range del {
		if err := ab.Delete(aggregateKey(r.Endpoint, r.StartUnix)); err != nil {
			return fmt.Errorf("delete aggregate: %w", err)
		}
	}
	for _, b := range put {
		if err := ab.Put(aggregateKey(b.Endpoint, b.StartUnix), encodeBucket(nil, b)); err != nil {
			return fmt.Errorf("put aggregate %q: %w", b.Endpoint, err)
		}
	}
	return nil
}

// LoadPending calls fn for every pending digest.
func (s *Bolt) LoadPending(fn func(p PendingDigest) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.db.View(func(tx *bolt.Tx) error { return s.pending.load(tx, fn) })
}

// LoadBuckets calls fn for every aggregate bucket.
func (s *Bolt) LoadBuckets(fn func(b *Bucket) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktAggregates).ForEach(func(k, v []byte) error {
			b, err := decodeBucket(v)
			if err != nil {
				return fmt.Errorf("store: decode aggregate %x: %w", k, err)
			}
			return fn(b)
		})
	})
}

// Record returns a stored request, with full digests while it is sampled.
// The full record is returned only when it is of the request the key's
// record is (written before the full records of an earlier request with
// the key were replaced, one may be left).
func (s *Bolt) Record(key string) (*shadowdiffv1.RequestRecord, bool, error) {
	// Under the key index's read lock for the whole read (see keyIndex.ref).
	s.keys.mu.RLock()
	defer s.keys.mu.RUnlock()
	var (
		data, full []byte
		entry      recordEntry
		inSegment  bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		entry, inSegment, err = recordAt(tx, key, s.keys.ref(tx, key))
		if err != nil {
			return err
		}
		if inSegment {
			data = bytes.Clone(entry.rec)
			entry.endpoint = bytes.Clone(entry.endpoint) // the transaction's memory
		} else {
			data = bytes.Clone(tx.Bucket(bktRecords).Get([]byte(key))) // written by an earlier version
		}
		full = bytes.Clone(tx.Bucket(bktFull).Get([]byte(key)))
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: read record %q: %w", key, err)
	}
	// The request the record is of: a segment's entry names it, a record
	// of an earlier version is decoded.
	var rec *shadowdiffv1.RequestRecord
	endpoint, nano := string(entry.endpoint), entry.nano
	if data != nil && !inSegment {
		if rec, err = decodeRecord(key, "record", data); err != nil {
			return nil, false, err
		}
		endpoint, nano = rec.GetEndpoint(), rec.GetTime().AsTime().UnixNano()
	}
	if full != nil {
		f, err := decodeRecord(key, "full record", full)
		if err != nil {
			return nil, false, err
		}
		if data == nil || f.GetEndpoint() == endpoint && f.GetTime().AsTime().UnixNano() == nano {
			return f, true, nil
		}
	}
	if data == nil {
		return nil, false, nil
	}
	if rec == nil {
		if rec, err = decodeRecord(key, "record", data); err != nil {
			return nil, false, err
		}
	}
	return rec, true, nil
}

func decodeRecord(key, what string, data []byte) (*shadowdiffv1.RequestRecord, error) {
	rec := &shadowdiffv1.RequestRecord{}
	if err := rec.UnmarshalVT(data); err != nil {
		return nil, fmt.Errorf("store: decode %s %q: %w", what, key, err)
	}
	return rec, nil
}

// RecentRecords implements Store. Segments sort by their oldest record and
// span less than segmentSpan, so the walk back skips those that start after
// until and stops at the first older than since by more than that span. A
// record is passed only if it is its key's live one (not written again
// since, nor deleted).
func (s *Bolt) RecentRecords(since, until time.Time, limit int, fn func(rec *shadowdiffv1.RequestRecord) error) error {
	s.keys.mu.RLock() // see keyIndex.ref
	defer s.keys.mu.RUnlock()
	from, to, n := since.UnixNano(), until.UnixNano(), 0
	return s.db.View(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bktRecordSegments)
		c := sb.Cursor()
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			if len(k) != recordSegmentKeyLen || getTime(k) > to {
				continue
			}
			if getTime(k) < from-segmentSpan {
				return nil
			}
			err := eachRecordEntry(k, recordSegment(sb, k), func(ref [recordRefLen]byte, e recordEntry) error {
				if e.nano < from || e.nano > to || !bytes.Equal(s.keys.ref(tx, string(e.key)), ref[:]) {
					return nil
				}
				rec := &shadowdiffv1.RequestRecord{}
				if err := rec.UnmarshalVT(e.rec); err != nil {
					return fmt.Errorf("decode record %q: %w", e.key, err)
				}
				if err := fn(rec); err != nil {
					return err
				}
				if n++; limit > 0 && n >= limit {
					return errEnough
				}
				return nil
			})
			if err != nil {
				if errors.Is(err, errEnough) {
					return nil
				}
				return fmt.Errorf("store: recent records: %w", err)
			}
		}
		return nil
	})
}

// errEnough stops a walk that has what it wanted.
var errEnough = errors.New("enough")

// Samples lists sample references, newest first, one per request.
func (s *Bolt) Samples(q SampleQuery) ([]SampleRef, error) {
	return s.samples.query(q), nil
}
