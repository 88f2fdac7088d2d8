package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Clear deletes records, samples and aggregates of one endpoint, or of all
// endpoints and the count of digests filters dropped when endpoint is
// empty. Rules and pending digests stay.
func (s *Bolt) Clear(endpoint string) (uint64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	st := s.samples.stage()
	kst := s.keys.stage()
	var n uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := kst.writeAll(tx); err != nil {
			return err
		}
		var err error
		n, err = deleteRecords(tx, math.MaxInt64, func(ep []byte) bool {
			return endpoint == "" || string(ep) == endpoint
		}, kst)
		if err != nil {
			return err
		}
		groups := st.groupsWhere(func(g sampleGroup) bool { return endpoint == "" || g.endpoint == endpoint })
		if err := dropSamples(tx, st, groups, func(SampleRef) bool { return true }); err != nil {
			return err
		}
		if endpoint == "" {
			// The filters' drops belong to no endpoint: cleared with all.
			if err := tx.Bucket(bktMeta).Delete([]byte("dropped")); err != nil {
				return err
			}
		}
		return deleteAggregates(tx, func(ep string, _ int64, _ []byte) (bool, error) { return endpoint == "" || ep == endpoint, nil })
	})
	if err != nil {
		return 0, fmt.Errorf("store: clear %q: %w", endpoint, err)
	}
	st.commit()
	kst.commit()
	return n, nil
}

// DeleteBefore deletes records and samples older than t and aggregate
// buckets that ended by t.
func (s *Bolt) DeleteBefore(t time.Time) (uint64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	cut := t.UnixNano()
	st := s.samples.stage()
	kst := s.keys.stage()
	var n uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		if kst.needsAll(tx, cut) {
			if err := kst.writeAll(tx); err != nil {
				return err
			}
		}
		var err error
		n, err = deleteRecords(tx, cut, func([]byte) bool { return true }, kst)
		if err != nil {
			return err
		}
		groups := st.groupsWhere(func(sampleGroup) bool { return true })
		if err := dropSamples(tx, st, groups, func(r SampleRef) bool { return r.TimeNano < cut }); err != nil {
			return err
		}
		// A bucket goes once it ended: until then it may count requests
		// inside the retention, whose records and samples stay.
		cutUnix := t.Unix()
		return deleteAggregates(tx, func(_ string, start int64, v []byte) (bool, error) {
			if start >= cutUnix {
				return false, nil // the width is read only of buckets that started before
			}
			width, err := bucketWidth(v)
			return start+width <= cutUnix, err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete before %s: %w", t.Format(time.RFC3339), err)
	}
	st.commit()
	kst.commit()
	return n, nil
}

// bucketWidth reads WidthSec of an encoded Bucket without the rest: its
// counters are most of it, and the width comes third.
func bucketWidth(v []byte) (int64, error) {
	if len(v) == 0 || v[0] != '{' {
		return storedBucketWidth(v)
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	tok, err := dec.Token()
	if err != nil {
		return 0, fmt.Errorf("bucket width: %w", err)
	}
	if tok != json.Delim('{') {
		return 0, errors.New("bucket width: not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0, fmt.Errorf("bucket width: %w", err)
		}
		if tok == "w" {
			var w int64
			if err := dec.Decode(&w); err != nil {
				return 0, fmt.Errorf("bucket width: %w", err)
			}
			return w, nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return 0, fmt.Errorf("bucket width: %w", err)
		}
	}
	return 0, errors.New("bucket width: missing")
}

func dropSamples(tx *bolt.Tx, st *sampleStage, groups []sampleGroup, drop func(SampleRef) bool) error {
	sb, fb := tx.Bucket(bktSamples), tx.Bucket(bktFull)
	touched := map[string]bool{}
	for _, g := range groups {
		for _, r := range st.remove(g, drop) {
			if err := sb.Delete(sampleKey(r)); err != nil {
				return fmt.Errorf("delete sample: %w", err)
			}
			touched[r.Key] = true
		}
	}
	return syncFull(fb, st, touched, nil)
}

// deleteAggregates deletes the buckets match returns true for, given
// their endpoint, start and encoded value.
func deleteAggregates(tx *bolt.Tx, match func(endpoint string, startUnix int64, value []byte) (bool, error)) error {
	ab := tx.Bucket(bktAggregates)
	var doomed [][]byte
	err := ab.ForEach(func(k, v []byte) error {
		ep, rest, err := readLP(k)
		if err != nil || len(rest) != 8 {
			return fmt.Errorf("aggregate key %x: %w", k, errBadKey)
		}
		ok, err := match(ep, getTime(rest), v)
		if err != nil {
			return fmt.Errorf("aggregate %q at %d: %w", ep, getTime(rest), err)
		}
		if ok {
			doomed = append(doomed, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range doomed {
		if err := ab.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// AddDropped adds n to the count of digests filters dropped and returns the new total.
func (s *Bolt) AddDropped(n uint64) (uint64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var total uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktMeta)
		if v := b.Get([]byte("dropped")); len(v) == 8 {
			total = binary.BigEndian.Uint64(v)
		}
		// Saturates: the server bounds each batch's count, not their sum.
		var carry uint64
		if total, carry = bits.Add64(total, n, 0); carry != 0 {
			total = math.MaxUint64
		}
		return b.Put([]byte("dropped"), binary.BigEndian.AppendUint64(nil, total))
	})
	if err != nil {
		return 0, fmt.Errorf("store: add dropped: %w", err)
	}
	return total, nil
}

// Dropped returns the count of digests filters dropped.
func (s *Bolt) Dropped() (uint64, error) {
	var total uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bktMeta).Get([]byte("dropped")); len(v) == 8 {
			total = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: read dropped: %w", err)
	}
	return total, nil
}
