package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Clear deletes records, samples and aggregates of one endpoint, or of all
// endpoints when endpoint is empty. Rules and pending digests stay.
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
		return deleteAggregates(tx, func(ep string, _ int64) bool { return endpoint == "" || ep == endpoint })
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
		return deleteAggregates(tx, func(_ string, start int64) bool { return start < t.Unix() })
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete before %s: %w", t.Format(time.RFC3339), err)
	}
	st.commit()
	kst.commit()
	return n, nil
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

func deleteAggregates(tx *bolt.Tx, match func(endpoint string, startUnix int64) bool) error {
	ab := tx.Bucket(bktAggregates)
	var doomed [][]byte
	err := ab.ForEach(func(k, _ []byte) error {
		ep, rest, err := readLP(k)
		if err != nil || len(rest) != 8 {
			return fmt.Errorf("aggregate key %x: %w", k, errBadKey)
		}
		if match(ep, getTime(rest)) {
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
