package engine

import (
	"cmp"
	"hash/maphash"
	"slices"
	"strings"
)

// Learned path parameters: a path position that takes many distinct
// values among paths that agree everywhere else (/products/blue-shirt,
// /products/red-hat, ...) is a parameter, and the mapper names such paths
// by an endpoint rule it learns ("GET /products/{slug}").
const (
	// DefaultAutoTemplateThreshold: distinct values that make a segment
	// a parameter. Far more than a REST resource has sub-resources, far
	// fewer than the requests an endpoint needs for a verdict.
	DefaultAutoTemplateThreshold = 50
	// MaxAutoTemplateThreshold bounds the threshold: a group must be
	// able to reach it within the learner's value budget.
	MaxAutoTemplateThreshold = 10000
	// learnedPlaceholder names a learned parameter in patterns.
	learnedPlaceholder = "{slug}"
	// maxLearnGroups and maxLearnValues bound the learner's memory
	// (about 8 bytes a value, 100 a group: a few MiB); past either,
	// the groups with the fewest values are forgotten.
	maxLearnGroups = 4096
	maxLearnValues = 1 << 18
	// maxLearnSegments: longer paths are not learned from (each
	// position is a group).
	maxLearnSegments = 32
	// maxLearnedRules bounds the rules learned (each is matched on every
	// cache miss): scanners could otherwise have one learned per prefix.
	maxLearnedRules = 200
)

// paramLearner counts the distinct values each path position takes among
// templated paths that agree elsewhere. A group is (method, number of
// segments, position, the other segments), kept as a 64-bit hash; its
// values are hashes too, so long paths cost no more than short ones.
type paramLearner struct {
	threshold int
	seed      maphash.Seed
	groups    map[uint64]*paramGroup
	values    int // in all groups
}

type paramGroup struct {
	values []uint64 // sorted; nil once done
	done   bool     // crossed the threshold: no more values collected
}

func newParamLearner(threshold int) *paramLearner {
	return &paramLearner{threshold: threshold, seed: maphash.MakeSeed(), groups: map[uint64]*paramGroup{}}
}

// observe counts the segments of a templated path, which must be
// learnable, and returns the position whose group just passed the
// threshold, or -1. Positions that are placeholders or empty are not
// parameters, nor a position whose group would keep no literal segment
// ("/{slug}" would merge every one-segment path).
func (l *paramLearner) observe(method string, segs []string) int {
	if len(segs) > maxLearnSegments {
		return -1
	}
	var terms [maxLearnSegments]uint64
	var hashes [maxLearnSegments]uint64
	literals := 0
	var sum uint64
	for j, s := range segs {
		hashes[j] = maphash.String(l.seed, s)
		terms[j] = mix64(hashes[j] + uint64(j+1)*0x9e3779b97f4a7c15)
		sum += terms[j]
		if isLiteral(s) {
			literals++
		}
	}
	if literals < 2 {
		return -1
	}
	base := maphash.String(l.seed, method) ^ uint64(len(segs))<<48
	crossed := -1
	for i, s := range segs {
		if !isLiteral(s) {
			continue
		}
		// The others' terms: the sum without position i's own.
		key := mix64(base + uint64(i+1)*0xbf58476d1ce4e5b9 + sum - terms[i])
		if l.add(key, hashes[i]) && crossed < 0 {
			crossed = i
		}
	}
	return crossed
}

// add records value in the group of key; true when the group just passed
// the threshold.
func (l *paramLearner) add(key, value uint64) bool {
	g := l.groups[key]
	if g == nil {
		if len(l.groups) >= maxLearnGroups {
			l.sweep()
		}
		g = &paramGroup{}
		l.groups[key] = g
	}
	if g.done {
		return false
	}
	i, found := slices.BinarySearch(g.values, value)
	if found {
		return false
	}
	if l.values >= maxLearnValues {
		l.sweep()
		if l.groups[key] != g {
			return false // g itself was among the smallest
		}
	}
	g.values = slices.Insert(g.values, i, value)
	l.values++
	if len(g.values) <= l.threshold {
		return false
	}
	l.values -= len(g.values)
	g.values, g.done = nil, true
	return true
}

// sweep forgets the groups with the fewest values (done groups first: their
// paths have a rule now, or were deleted as one) until at most half of
// each budget is used. A slug group grows while the one-off paths of
// scanners stay at one value each, so it survives them.
func (l *paramLearner) sweep() {
	type entry struct {
		key uint64
		n   int
	}
	all := make([]entry, 0, len(l.groups))
	for k, g := range l.groups {
		all = append(all, entry{k, len(g.values)})
	}
	slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(a.n, b.n) })
	for _, e := range all {
		if len(l.groups) <= maxLearnGroups/2 && l.values <= maxLearnValues/2 {
			break
		}
		delete(l.groups, e.key)
		l.values -= e.n
	}
}

// isLiteral: a segment of a learnable path that may be a parameter's
// value, or that keeps a learned pattern specific.
func isLiteral(s string) bool { return s != "" && s != idPlaceholder }

// learnable: a templated path whose segments make a valid pattern: no
// braces or "**" but the placeholders templating put in.
func learnable(segs []string) bool {
	for _, s := range segs {
		if s == idPlaceholder {
			continue
		}
		if strings.ContainsAny(s, "{}") || strings.Contains(s, "**") {
			return false
		}
	}
	return true
}

// mix64 is splitmix64's finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
