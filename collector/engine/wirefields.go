package engine

import (
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/shadowdiff/shadowdiff/collector/internal/protoscan"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Field numbers on the way to the body fields of an encoded digest.
const (
	wireDigestBody = 8  // ResponseDigest.body
	wireBodyFields = 10 // BodyDigest.fields
)

// fieldSource reads the body fields of encoded digests into flat form. It
// runs outside the engine's lock, on every ingesting stream at once, so
// what it shares is safe for concurrent use: the path table, the slices
// of closed requests (recycled: a digest's fields were the largest
// allocation of an ingest) and the readers' path caches.
type fieldSource struct {
	paths   *pathTable
	flats   flatPool
	readers sync.Pool // of *pathCache
	// keepAll turns recycling off, for tests that compare the results
	// with and without it.
	keepAll bool
}

func newFieldSource(paths *pathTable) *fieldSource {
	s := &fieldSource{paths: paths}
	s.readers.New = func() any { return new(pathCache) }
	return s
}

// pathCache holds the paths of the last digest a reader read: responses
// of an endpoint list the same paths, so comparing with them saves a
// lookup in the shared table per field.
type pathCache struct {
	paths []string
	// strict says the paths are in increasing order, none twice. Fields
	// that are not are sorted (stable: a path listed twice stays so, for
	// validateFlat to refuse).
	strict bool
	// utf8 is how many of the first paths are known to be valid UTF-8
	// without control characters (all of them, as the filter sends them),
	// as the read that cached them checked them.
	utf8 int
}

// read returns the body fields of an encoded ResponseDigest, sorted by
// path, their paths from the shared table. Entries in the plain form the
// filter sends are read directly; anything else is decoded by the
// generated code (which also reports malformed input). checked says the
// fields passed validateFlat's checks on the way (the plain form with
// paths in order): the caller need not walk them again. The slice is the
// caller's; recycle hands it back once nothing refers to it.
func (s *fieldSource) read(wire []byte) (_ []flatEntry, checked bool, err error) {
	fields, ok, checked := s.plain(wire)
	if !ok {
		var d shadowdiffv1.ResponseDigest
		if err := d.UnmarshalVT(wire); err != nil {
			return nil, false, err
		}
		fs := d.GetBody().GetFields()
		if len(fs) == 0 {
			return nil, true, nil
		}
		fields = s.flats.get(len(fs))
		for i, e := range fs {
			fields[i] = flatEntry{} // a pooled slice holds old entries
			if e != nil {
				fields[i] = flatEntryOf(e)
				fields[i].path = s.paths.intern(e.Path)
			}
		}
		if !slices.IsSortedFunc(fields, compareFlatPaths) {
			slices.SortStableFunc(fields, compareFlatPaths)
		}
	}
	return fields, checked, nil
}

// plain is read for digests whose every field entry is plain; ok is false
// otherwise. It checks each entry as validateFlat does, in the same pass
// (a second walk of the fields cost ~4% of ingest), UTF-8 included: a path
// equal to the cached one at its place was checked when it was cached.
// checked is false when a check failed, or when the order of the paths is
// not known to be strict (validateFlat then finds the error, or sorts out a
// duplicate).
func (s *fieldSource) plain(wire []byte) (_ []flatEntry, ok, checked bool) {
	pc := s.readers.Get().(*pathCache)
	defer s.readers.Put(pc)
	// Sized for as many fields as the reader's last digest had (most
	// digests in a row come from the same endpoints), within what the pool
	// keeps: an outsized digest must not make every later one allocate.
	out := s.flats.get(min(max(len(pc.paths), 1), maxPooledFields))[:0]
	fail := func() ([]flatEntry, bool, bool) {
		s.flats.put(out)
		return nil, false, false
	}
	same := true // so far, the same paths as the cached list
	bad := false // an entry failed a check of validateField
	valid := 0   // how many of the first paths are known to be UTF-8
	var pe protoscan.FieldEntry
	for rest := wire; len(rest) > 0; {
		num, body, r, ok := protoscan.NextField(rest)
		if !ok {
			return fail()
		}
		rest = r
		if num != wireDigestBody || body == nil {
			continue
		}
		for len(body) > 0 {
			num, entry, r, ok := protoscan.NextField(body)
			if !ok {
				return fail()
			}
			body = r
			if num != wireBodyFields || entry == nil {
				continue
			}
			if !protoscan.PlainFieldEntry(entry, &pe) {
				return fail()
			}
			i := len(out)
			var path string
			var isUTF8 bool
			if same && i < len(pc.paths) && pc.paths[i] == string(pe.Path(entry)) {
				path, isUTF8 = pc.paths[i], i < pc.utf8
			} else {
				same = false
				path = s.paths.lookup(pe.Path(entry))
				isUTF8 = utf8.ValidString(path) && !hasControl(path)
			}
			if isUTF8 && valid == i {
				valid++
			}
			bad = bad || !isUTF8
			if i == cap(out) {
				out = slices.Grow(out, 8)
			}
			// Set in place, field by field: appending a whole entry moved
			// it with a bulk write barrier while the GC was marking.
			out = out[:i+1]
			fe := &out[i]
			typ, shape := shadowdiffv1.JsonType(pe.Type), shadowdiffv1.ValueShape(pe.Shape)
			bad = bad || len(path) > maxFieldPathLen || typ < 0 || typ > shadowdiffv1.JsonType_JSON_TYPE_MIXED ||
				!validShape(shape) || pe.RawLen() > maxRawValueLen
			fe.path, fe.typ, fe.shape = path, typ, shape
			fe.lengthBucket, fe.occurrences, fe.elements = pe.LengthBucket, pe.Occurrences, pe.Elements
			fe.valueHash, fe.unorderedHash = pe.ValueHash, pe.UnorderedHash
			switch {
			case pe.HasRaw:
				raw := string(pe.Raw(entry))
				fe.rawValue = &raw
				bad = bad || !utf8.ValidString(raw)
			case fe.rawValue != nil: // a pooled slice's: written only then, as a pointer write runs the GC's barrier
				fe.rawValue = nil
			}
		}
	}
	if len(out) == 0 {
		s.flats.put(out)
		return nil, true, true
	}
	if c := cap(out); c%8 != 0 || c-len(out) >= 8 {
		// Sized for another digest (or grown by append): into a slice
		// of this one's size, as pending digests keep theirs.
		fields := s.flats.get(len(out))
		copy(fields, out)
		s.flats.put(out)
		out = fields
	}
	if !same || len(out) != len(pc.paths) {
		// A new list of paths: cache it, and whether it is in order (the
		// filter sends them sorted; the cached answer saves comparing
		// every pair again for the next digest with the same paths).
		pc.paths = pc.paths[:0]
		for i := range out {
			pc.paths = append(pc.paths, out[i].path)
		}
		pc.utf8, pc.strict = valid, strictlySorted(out)
	}
	if !pc.strict {
		slices.SortStableFunc(out, compareFlatPaths)
	}
	return out, true, !bad && pc.strict && len(out) <= maxFields
}

// strictlySorted reports whether fields are in increasing path order, no
// path twice.
func strictlySorted(fields []flatEntry) bool {
	for i := 1; i < len(fields); i++ {
		if fields[i-1].path >= fields[i].path {
			return false
		}
	}
	return true
}

// recycle takes back fields read by s (or built elsewhere) that nothing
// refers to any more.
func (s *fieldSource) recycle(fields []flatEntry) {
	if !s.keepAll {
		s.flats.put(fields)
	}
}

// flatPool keeps slices of body fields for reuse, by capacity: a slice
// is handed out with its length rounded up to a multiple of 8 (pending
// digests keep theirs, so little is wasted); it keeps at most maxPooled
// fields in all, so a burst of large digests costs little afterwards.
type flatPool struct {
	mu     sync.Mutex
	byCap  map[int][][]flatEntry
	pooled int // fields, counted by capacity
}

// maxPooled bounds the fields the pool keeps (64 bytes each: 4 MiB);
// maxPooledFields, one slice.
const (
	maxPooled       = 1 << 16
	maxPooledFields = 1024
)

// get returns a slice of n fields, not cleared: the caller sets them all.
func (p *flatPool) get(n int) []flatEntry {
	c := (n + 7) &^ 7
	p.mu.Lock()
	if l := p.byCap[c]; len(l) > 0 {
		s := l[len(l)-1]
		l[len(l)-1] = nil
		p.byCap[c] = l[:len(l)-1]
		p.pooled -= c
		p.mu.Unlock()
		return s[:n]
	}
	p.mu.Unlock()
	return make([]flatEntry, n, c)
}

func (p *flatPool) put(s []flatEntry) {
	c := cap(s)
	if c == 0 || c%8 != 0 || c > maxPooledFields {
		return
	}
	// Not cleared (get's callers set every entry): a pooled slice may keep
	// paths and raw values of closed requests alive, at most maxPooled.
	s = s[:0]
	p.mu.Lock()
	if p.pooled+c <= maxPooled {
		if p.byCap == nil {
			p.byCap = map[int][][]flatEntry{}
		}
		p.byCap[c] = append(p.byCap[c], s)
		p.pooled += c
	}
	p.mu.Unlock()
}

// pathTable is the set of field path strings shared by every digest the
// engine holds, bounded by maxInterned: beyond it, digests keep their own
// strings. Safe for concurrent use.
type pathTable struct {
	mu sync.RWMutex
	m  map[string]string
}

func newPathTable() *pathTable { return &pathTable{m: map[string]string{}} }

// lookup returns the shared string equal to b (adding it while there is
// room), else a new one.
func (t *pathTable) lookup(b []byte) string {
	v, found, full := find(t, b)
	switch {
	case found:
		return v
	case full:
		return string(b)
	}
	return t.add(string(b))
}

// intern is lookup for a string, returned as it is when there is no room.
func (t *pathTable) intern(s string) string {
	v, found, full := find(t, s)
	switch {
	case found:
		return v
	case full:
		return s
	}
	return t.add(strings.Clone(s))
}

// find looks key up under the read lock; generic so that a lookup by
// bytes converts them in the map index, where the conversion does not
// allocate.
func find[K string | []byte](t *pathTable, key K) (v string, found, full bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	v, found = t.m[string(key)]
	return v, found, len(t.m) >= maxInterned
}

// reset empties the table (strings handed out stay valid).
func (t *pathTable) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.m)
}

// add interns s (which must not alias a caller's buffer) while there is
// room.
func (t *pathTable) add(s string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.m[s]; ok {
		return v
	}
	if len(t.m) >= maxInterned {
		return s
	}
	t.m[s] = s
	return s
}
