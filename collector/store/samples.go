package store

import (
	"slices"
	"sort"
	"sync"
)

type sampleGroup struct {
	endpoint, path string
	definite       bool
}

// sampleIndex is the in-memory index of the samples bucket: per (endpoint,
// path, definite) the newest refs, ascending by time, at most max each.
// It also lists the refs of each request (by pairing key), so that a full
// record is deleted when the last sample referring to it goes, and the
// samples of a request whose key a later request takes are found.
type sampleIndex struct {
	mu     sync.RWMutex
	max    int
	groups map[sampleGroup][]SampleRef
	byKey  map[string][]SampleRef
}

func newSampleIndex(max int) *sampleIndex {
	return &sampleIndex{max: max, groups: map[sampleGroup][]SampleRef{}, byKey: map[string][]SampleRef{}}
}

func groupOf(r SampleRef) sampleGroup {
	return sampleGroup{endpoint: r.Endpoint, path: r.Path, definite: r.Definite}
}

func older(a, b SampleRef) bool {
	if a.TimeNano != b.TimeNano {
		return a.TimeNano < b.TimeNano
	}
	return a.Key < b.Key
}

// load inserts a ref read from the store (no limit applied).
func (x *sampleIndex) load(r SampleRef) {
	g := groupOf(r)
	x.groups[g] = insertSorted(x.groups[g], r)
	x.byKey[r.Key] = append(x.byKey[r.Key], r)
}

func insertSorted(refs []SampleRef, r SampleRef) []SampleRef {
	i := sort.Search(len(refs), func(i int) bool { return !older(refs[i], r) })
	return slices.Insert(refs, i, r)
}

// stage collects changes to the index made inside one transaction; commit
// publishes them once the transaction is durable.
type sampleStage struct {
	x      *sampleIndex
	groups map[sampleGroup][]SampleRef
	// keys are the changed byKey entries: copies the stage owns, changed
	// in place. A request sampled on thousands of fields has its refs
	// added, and later evicted, one by one: copying the list each time
	// made a transaction quadratic in them.
	keys map[string][]SampleRef
}

func (x *sampleIndex) stage() *sampleStage {
	return &sampleStage{x: x, groups: map[sampleGroup][]SampleRef{}, keys: map[string][]SampleRef{}}
}

// ownKey returns the stage's copy of key's refs, made on first use.
func (s *sampleStage) ownKey(key string) []SampleRef { return stagedCopy(s.x, s.keys, s.x.byKey, key) }

func (s *sampleStage) group(g sampleGroup) []SampleRef {
	return stagedCopy(s.x, s.groups, s.x.groups, g)
}

// stagedCopy returns the stage's entry for k, a copy of the committed one made
// on first use.
func stagedCopy[K comparable](x *sampleIndex, stage, committed map[K][]SampleRef, k K) []SampleRef {
	if refs, ok := stage[k]; ok {
		return refs
	}
	x.mu.RLock()
	refs := slices.Clone(committed[k])
	x.mu.RUnlock()
	stage[k] = refs
	return refs
}

// keyRefs returns the refs of key after the staged changes; the slice is
// read only (it may be the committed one).
func (s *sampleStage) keyRefs(key string) []SampleRef {
	if refs, ok := s.keys[key]; ok {
		return refs
	}
	s.x.mu.RLock()
	defer s.x.mu.RUnlock()
	return s.x.byKey[key]
}

// refCount is the number of samples referring to key after the staged changes.
func (s *sampleStage) refCount(key string) int { return len(s.keyRefs(key)) }

// referenced returns those of keys that samples refer to, under one lock:
// every record of a transaction is looked up.
func (s *sampleStage) referenced(keys map[string]int) []string {
	var out []string
	s.x.mu.RLock()
	defer s.x.mu.RUnlock()
	for k := range keys {
		refs, ok := s.keys[k]
		if !ok {
			refs = s.x.byKey[k]
		}
		if len(refs) > 0 {
			out = append(out, k)
		}
	}
	return out
}

func (s *sampleStage) keyAdd(r SampleRef) {
	s.keys[r.Key] = append(s.ownKey(r.Key), r)
}

func (s *sampleStage) keyDrop(r SampleRef) {
	i := slices.Index(s.keyRefs(r.Key), r)
	if i < 0 {
		return
	}
	refs := s.ownKey(r.Key)
	if i == 0 {
		// Samples are evicted oldest first, in the order they were added:
		// the first one, without moving the rest.
		s.keys[r.Key] = refs[1:]
		return
	}
	s.keys[r.Key] = slices.Delete(refs, i, i+1)
}

// dropKey removes the refs of key for which drop returns true, from every
// group, and returns them.
func (s *sampleStage) dropKey(key string, drop func(SampleRef) bool) []SampleRef {
	var gone []SampleRef
	for _, r := range slices.Clone(s.keyRefs(key)) { // remove changes them
		if drop(r) {
			gone = append(gone, s.remove(groupOf(r), func(x SampleRef) bool { return x == r })...)
		}
	}
	return gone
}

// add inserts r unless its group is full of newer samples or has its
// request already (the samples of an earlier request with the key are
// gone before: dropReplaced); it returns whether r went in and the sample
// it pushed out, if any.
func (s *sampleStage) add(r SampleRef) (inserted bool, evicted *SampleRef) {
	g := groupOf(r)
	refs := s.group(g)
	for _, have := range refs {
		if have.Key == r.Key {
			return false, nil
		}
	}
	if len(refs) >= s.x.max {
		if len(refs) == 0 || !older(refs[0], r) {
			return false, nil
		}
		ev := refs[0]
		evicted = &ev
		refs = refs[1:]
		s.keyDrop(ev)
	}
	s.groups[g] = insertSorted(slices.Clone(refs), r)
	s.keyAdd(r)
	return true, evicted
}

// remove drops the refs of a group for which drop returns true and returns them.
func (s *sampleStage) remove(g sampleGroup, drop func(SampleRef) bool) []SampleRef {
	var kept, gone []SampleRef
	for _, r := range s.group(g) {
		if drop(r) {
			gone = append(gone, r)
			s.keyDrop(r)
		} else {
			kept = append(kept, r)
		}
	}
	s.groups[g] = kept
	return gone
}

// groupsWhere lists the groups (committed or staged) that match.
func (s *sampleStage) groupsWhere(match func(sampleGroup) bool) []sampleGroup {
	var out []sampleGroup
	s.x.mu.RLock()
	for g := range s.x.groups {
		if match(g) {
			out = append(out, g)
		}
	}
	s.x.mu.RUnlock()
	for g := range s.groups {
		if match(g) && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

func (s *sampleStage) commit() {
	s.x.mu.Lock()
	defer s.x.mu.Unlock()
	for g, refs := range s.groups {
		if len(refs) == 0 {
			delete(s.x.groups, g)
		} else {
			s.x.groups[g] = refs
		}
	}
	for k, refs := range s.keys {
		if len(refs) > 0 {
			s.x.byKey[k] = refs
		} else {
			delete(s.x.byKey, k)
		}
	}
}

// query returns the refs matching q, newest first, one per request.
func (x *sampleIndex) query(q SampleQuery) []SampleRef {
	x.mu.RLock()
	var out []SampleRef
	for g, refs := range x.groups {
		if g.endpoint != q.Endpoint || (q.DefiniteOnly && !g.definite) || !PathHasPrefix(g.path, q.PathPrefix) {
			continue
		}
		for _, r := range refs {
			if (q.StartNano == 0 || r.TimeNano >= q.StartNano) && (q.EndNano == 0 || r.TimeNano < q.EndNano) {
				out = append(out, r)
			}
		}
	}
	x.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return older(out[j], out[i]) })
	seen := make(map[string]bool, len(out))
	uniq := out[:0]
	for _, r := range out {
		if !seen[r.Key] {
			seen[r.Key] = true
			uniq = append(uniq, r)
		}
	}
	return uniq
}
