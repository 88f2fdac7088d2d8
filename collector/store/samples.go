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
// It also counts references per request so full records are deleted when
// the last sample referring to them goes.
type sampleIndex struct {
	mu     sync.RWMutex
	max    int
	groups map[sampleGroup][]SampleRef
	refs   map[string]int
}

func newSampleIndex(max int) *sampleIndex {
	return &sampleIndex{max: max, groups: map[sampleGroup][]SampleRef{}, refs: map[string]int{}}
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
	x.refs[r.Key]++
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
	delta  map[string]int
}

func (x *sampleIndex) stage() *sampleStage {
	return &sampleStage{x: x, groups: map[sampleGroup][]SampleRef{}, delta: map[string]int{}}
}

func (s *sampleStage) group(g sampleGroup) []SampleRef {
	if refs, ok := s.groups[g]; ok {
		return refs
	}
	s.x.mu.RLock()
	refs := slices.Clone(s.x.groups[g])
	s.x.mu.RUnlock()
	s.groups[g] = refs
	return refs
}

// refCount is the number of samples referring to key after the staged changes.
func (s *sampleStage) refCount(key string) int {
	s.x.mu.RLock()
	n := s.x.refs[key]
	s.x.mu.RUnlock()
	return n + s.delta[key]
}

// add inserts r unless its group is full of newer samples; it returns
// whether r went in and the sample it pushed out, if any.
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
		s.delta[ev.Key]--
	}
	s.groups[g] = insertSorted(slices.Clone(refs), r)
	s.delta[r.Key]++
	return true, evicted
}

// remove drops the refs of a group for which drop returns true and returns them.
func (s *sampleStage) remove(g sampleGroup, drop func(SampleRef) bool) []SampleRef {
	var kept, gone []SampleRef
	for _, r := range s.group(g) {
		if drop(r) {
			gone = append(gone, r)
			s.delta[r.Key]--
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
	for k, d := range s.delta {
		if n := s.x.refs[k] + d; n > 0 {
			s.x.refs[k] = n
		} else {
			delete(s.x.refs, k)
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
