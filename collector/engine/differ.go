package engine

import (
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// differ diffs responses (diff.go). Every request that differs somewhere
// yields entries and query paths for its differences (the date header
// always does); the differ hands the entries out of chunks and keeps the
// paths it built, so a difference costs no allocation of its own. It is
// used under the engine's mu; the zero value is ready.
type differ struct {
	entries entryArena
	paths   queryPaths
}

// entryChunk is how many entries one allocation holds.
const entryChunk = 64

// entryArena allocates FieldEntries in chunks. Records and samples keep
// the entries after the comparison, so a chunk is never reused: it is
// freed once nothing points into it. Until then it also keeps what its
// entries point at (paths, raw values of digests): bounded, since records
// leave memory once stored and the current chunk is replaced once full.
type entryArena struct{ chunk []shadowdiffv1.FieldEntry }

func (a *entryArena) alloc() *shadowdiffv1.FieldEntry {
	if len(a.chunk) == cap(a.chunk) {
		a.chunk = make([]shadowdiffv1.FieldEntry, 0, entryChunk)
	}
	a.chunk = a.chunk[:len(a.chunk)+1]
	return &a.chunk[len(a.chunk)-1]
}

// maxQueryPaths bounds each cache of queryPaths. A full cache stops
// taking paths rather than starting over: it holds the paths responses
// keep sending, and a flood of one-off ones (ids as keys) then costs an
// allocation per difference, not memory.
const maxQueryPaths = 1 << 14

// queryPaths caches the query paths of body fields and headers.
type queryPaths struct {
	body, header map[string]string
}

// bodyField returns queryPath(p).
func (q *queryPaths) bodyField(p string) string {
	if s, ok := q.body[p]; ok {
		return s
	}
	s := queryPath(p)
	cachePath(&q.body, s, len(s)-len(p))
	return s
}

// headerName returns the query path of a header.
func (q *queryPaths) headerName(name string) string {
	if s, ok := q.header[name]; ok {
		return s
	}
	s := headerPrefix + name
	cachePath(&q.header, s, len(headerPrefix))
	return s
}

// cachePath caches s under its suffix from keyFrom (the key shares s's bytes).
func cachePath(cache *map[string]string, s string, keyFrom int) {
	if *cache == nil {
		*cache = map[string]string{}
	}
	if len(*cache) < maxQueryPaths {
		(*cache)[s[keyFrom:]] = s
	}
}

// headerEntry is a header as a FieldEntry.
func (df *differ) headerEntry(h *shadowdiffv1.HeaderDigest, path string) *shadowdiffv1.FieldEntry {
	e := df.entries.alloc()
	e.Path, e.Type, e.Shape = path, shadowdiffv1.JsonType_JSON_TYPE_STRING, h.Shape
	e.ValueHash, e.UnorderedHash, e.Occurrences, e.RawValue = h.ValueHash, h.ValueHash, 1, h.RawValue
	return e
}

// fieldEntry returns the FieldEntry of v.fields[i]: the digest's own when
// it has them, else one made from the flat form.
func (df *differ) fieldEntry(v *response, i int) *shadowdiffv1.FieldEntry {
	if v.src != nil {
		return v.src[i]
	}
	e := df.entries.alloc()
	v.fields[i].fill(e)
	return e
}
