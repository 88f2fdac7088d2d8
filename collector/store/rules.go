package store

import (
	"bytes"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// PutNoiseRule stores r; an empty id gets the next "nr-<n>".
func (s *Bolt) PutNoiseRule(r *shadowdiffv1.NoiseRule) (*shadowdiffv1.NoiseRule, error) {
	r = proto.Clone(r).(*shadowdiffv1.NoiseRule)
	err := s.putRule(bktNoiseRules, "nr-", &r.Id, r)
	return r, err
}

// NoiseRules returns all noise rules in creation order.
func (s *Bolt) NoiseRules() ([]*shadowdiffv1.NoiseRule, error) {
	var out []*shadowdiffv1.NoiseRule
	err := s.listRules(bktNoiseRules, func() proto.Message {
		r := &shadowdiffv1.NoiseRule{}
		out = append(out, r)
		return r
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].GetCreated().AsTime().Before(out[j].GetCreated().AsTime()) })
	return out, err
}

// DeleteNoiseRule deletes a rule; false when there is none with that id.
func (s *Bolt) DeleteNoiseRule(id string) (bool, error) { return s.deleteRule(bktNoiseRules, id, nil) }

// PutEndpointRule stores r; an empty id gets the next "er-<n>".
func (s *Bolt) PutEndpointRule(r *shadowdiffv1.EndpointRule) (*shadowdiffv1.EndpointRule, error) {
	r = proto.Clone(r).(*shadowdiffv1.EndpointRule)
	err := s.putRule(bktEndpointRules, "er-", &r.Id, r)
	return r, err
}

// EndpointRules returns all endpoint rules in creation order.
func (s *Bolt) EndpointRules() ([]*shadowdiffv1.EndpointRule, error) {
	var out []*shadowdiffv1.EndpointRule
	err := s.listRules(bktEndpointRules, func() proto.Message {
		r := &shadowdiffv1.EndpointRule{}
		out = append(out, r)
		return r
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].GetCreated().AsTime().Before(out[j].GetCreated().AsTime()) })
	return out, err
}

// DeleteEndpointRule deletes a rule; false when there is none with that
// id. A learned rule is remembered in DeletedLearnedRules in the same
// transaction: deleted but not remembered, it would be learned again.
func (s *Bolt) DeleteEndpointRule(id string) (bool, error) {
	return s.deleteRule(bktEndpointRules, id, func(tx *bolt.Tx, data []byte) error {
		r := &shadowdiffv1.EndpointRule{}
		if err := proto.Unmarshal(data, r); err != nil {
			return fmt.Errorf("decode rule: %w", err)
		}
		if !r.Learned {
			return nil
		}
		// A copy: data is the page's, which the delete may change.
		return tx.Bucket(bktDeletedLearned).Put([]byte(r.Method+" "+r.PathPattern), bytes.Clone(data))
	})
}

// DeletedLearnedRules returns the learned rules that were deleted.
func (s *Bolt) DeletedLearnedRules() ([]*shadowdiffv1.EndpointRule, error) {
	var out []*shadowdiffv1.EndpointRule
	err := s.listRules(bktDeletedLearned, func() proto.Message {
		r := &shadowdiffv1.EndpointRule{}
		out = append(out, r)
		return r
	})
	return out, err
}

func (s *Bolt) putRule(bkt []byte, prefix string, id *string, m proto.Message) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bkt)
		if *id == "" {
			n, err := b.NextSequence()
			if err != nil {
				return err
			}
			*id = fmt.Sprintf("%s%d", prefix, n)
		}
		data, err := proto.Marshal(m)
		if err != nil {
			return err
		}
		return b.Put([]byte(*id), data)
	})
	if err != nil {
		return fmt.Errorf("store: put rule: %w", err)
	}
	return nil
}

func (s *Bolt) listRules(bkt []byte, next func() proto.Message) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bkt).ForEach(func(k, v []byte) error {
			if err := proto.Unmarshal(v, next()); err != nil {
				return fmt.Errorf("decode rule %q: %w", k, err)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store: list rules: %w", err)
	}
	return nil
}

// deleteRule deletes a rule; also, when not nil, runs in the same
// transaction with the rule's encoding.
func (s *Bolt) deleteRule(bkt []byte, id string, also func(tx *bolt.Tx, data []byte) error) (bool, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var found bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bkt)
		data := b.Get([]byte(id))
		found = data != nil
		if !found {
			return nil
		}
		if also != nil {
			if err := also(tx, data); err != nil {
				return err
			}
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return false, fmt.Errorf("store: delete rule %q: %w", id, err)
	}
	return found, nil
}
