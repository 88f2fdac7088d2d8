package digest

import (
	"encoding/binary"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// jsonDigester holds what digesting a document needs and keeps it for the
// next one: the interned paths, the entry list, the container stack and
// scratch buffers. Steady state, a document costs no allocation.
type jsonDigester struct {
	opts      *JSONOptions
	keys      [numTags]Key    // per type tag
	litHash   [numTags]uint64 // hashes of null, true and false
	paths     pathTable
	gen       uint32 // the document being digested, for pathNode.gen
	fields    []wire.FieldEntry
	truncated bool
	stack     []frame
	scratch   []byte      // unescaped strings
	canon     []byte      // canonical numbers
	hashes    []hashEntry // a power of two of them
}

// maxKeptScratch bounds the unescaping buffer kept between documents.
const maxKeptScratch = 64 << 10

// Short scalar hashes a digester keeps: a reused one many, a one-shot
// one (DigestJSON) a few.
const (
	hashCacheSize        = 256
	oneShotHashCacheSize = 16
)

// hashEntry caches the keyed hash of a scalar of at most 8 bytes: word
// holds its bytes, meta its length, type tag and a valid bit.
type hashEntry struct {
	word, meta, hash uint64
}

// hashSlot picks the cache entry of a short scalar in a cache of mask+1
// entries.
func hashSlot(word, meta uint64, mask int) int {
	return int(((word^meta<<40)*0x9e3779b97f4a7c15)>>56) & mask
}

// scalarHash is the keyed hash of a string or number value under tag.
// Short values repeat (enums, flags, small numbers): their hashes are
// looked up in the cache before being computed.
func (d *jsonDigester) scalarHash(s []byte, tag int) uint64 {
	n := len(s)
	if n > 8 || cap(s) < 8 {
		return d.keys[tag].Sum64(s)
	}
	w := binary.LittleEndian.Uint64(s[:8]) & (^uint64(0) >> (64 - 8*n))
	m := uint64(n) | uint64(tag)<<8 | 1<<16
	e := &d.hashes[hashSlot(w, m, len(d.hashes)-1)]
	if e.word != w || e.meta != m {
		e.word, e.meta, e.hash = w, m, d.keys[tag].Sum64(s)
	}
	return e.hash
}

// frame is an open container.
type frame struct {
	node, slot int32 // the container's path node and entry; -1: not listed
	// objects: last is the node of the previous member, pred the node
	// predicted for the next one (-1: none).
	// arrays: last and pred are the node and entry of the "[]" child,
	// looked up on the first element (last is -2 until then).
	last, pred int32
	n          int32 // members or elements so far
	array      bool
	start      int    // offset of '{' or '['
	sum        uint64 // objects: sum of member hashes; arrays: the ordered hash
	unordered  uint64 // arrays: sum of element hashes
	keyHash    uint64 // objects: name hash of the member being parsed
}

// newJSONDigester returns a digester with a hash cache of cacheSize
// entries (a power of two) and room for sizeHint paths.
func newJSONDigester(opts *JSONOptions, cacheSize, sizeHint int) *jsonDigester {
	d := &jsonDigester{opts: opts, hashes: make([]hashEntry, cacheSize),
		fields: make([]wire.FieldEntry, 0, sizeHint)}
	d.paths.nodes = make([]pathNode, 0, sizeHint)
	for tag := range d.keys {
		d.keys[tag] = opts.Key.Tweak(byte(tag + 1))
		d.litHash[tag] = d.keys[tag].Sum64(nil)
	}
	d.paths.allow = opts.Raw
	return d
}

// digest digests src into d.fields and d.truncated, valid until the next
// call.
func (d *jsonDigester) digest(src []byte) error {
	if d.paths.len() > maxCachedPaths || d.gen == ^uint32(0) {
		d.paths.reset()
		d.gen = 0
	}
	if cap(d.fields) > 2*maxCachedPaths {
		d.fields = nil
	}
	if cap(d.scratch) > maxKeptScratch {
		d.scratch = nil // one huge escaped string is no reason to keep its memory
	}
	d.gen++
	clear(d.fields) // drop references to the last document's strings
	d.fields = d.fields[:0]
	d.truncated = false
	err := d.parse(src)
	if err != nil {
		d.fields = d.fields[:0]
	}
	return err
}

// slotOf returns the entry of path node n in this document, listing it if
// this is its first occurrence; -1 once MaxFields entries are listed.
func (d *jsonDigester) slotOf(n int32) int32 {
	p := &d.paths.nodes[n]
	if p.gen == d.gen {
		return p.field
	}
	p.gen = d.gen
	p.field = -1
	if d.opts.MaxFields > 0 && len(d.fields) >= d.opts.MaxFields {
		d.truncated = true
		return -1
	}
	p.field = int32(len(d.fields))
	d.fields = append(d.fields, wire.FieldEntry{Path: p.path})
	return p.field
}

// member returns the path node and entry of member key of parent (both -1
// when it is not listed).
func (d *jsonDigester) member(parent int32, key []byte, keyHash uint64) (int32, int32) {
	n := d.paths.lookup(parent, key, keyHash)
	if n < 0 {
		if d.opts.MaxFields > 0 && len(d.fields) >= d.opts.MaxFields {
			d.truncated = true
			return -1, -1
		}
		n = d.paths.addMember(parent, key, keyHash)
	}
	s := d.slotOf(n)
	if s < 0 {
		return -1, -1
	}
	return n, s
}

// element returns the path node and entry of the "[]" child of parent.
func (d *jsonDigester) element(parent int32) (int32, int32) {
	e := d.paths.nodes[parent].elem
	if e < 0 {
		if d.opts.MaxFields > 0 && len(d.fields) >= d.opts.MaxFields {
			d.truncated = true
			return -1, -1
		}
		e = d.paths.element(parent)
	}
	s := d.slotOf(e)
	if s < 0 {
		return -1, -1
	}
	return e, s
}

// record folds one value into entry e. Callers settle its type and shape
// first (typed, else setType): split so that record and typed inline.
func record(e *wire.FieldEntry, lb uint32, hash, unordered uint64, elements uint32) {
	e.Occurrences++
	e.ValueHash = mix(e.ValueHash, hash)
	e.UnorderedHash += unordered
	e.Elements += elements
	if lb > e.LengthBucket {
		e.LengthBucket = lb
	}
}

// typed reports whether e already has type typ and shape shape from an
// earlier occurrence; if not, setType must be called before record. (A new
// entry has type 0, which no value has: one compare covers all three.)
func typed(e *wire.FieldEntry, typ wire.JSONType, shape wire.Shape) bool {
	return uint32(e.Type^typ)|uint32(e.Shape^shape) == 0
}

// setType sets the type and shape of a first occurrence, or marks a
// disagreement with earlier ones as mixed.
//
//go:noinline
func setType(e *wire.FieldEntry, typ wire.JSONType, shape wire.Shape) {
	if e.Occurrences == 0 {
		e.Type, e.Shape = typ, shape
		return
	}
	if e.Type != typ {
		e.Type = wire.TypeMixed
	}
	if e.Shape != shape {
		e.Shape = wire.ShapeMixed
	}
}

// setRaw records v as the raw value of entry slot, whose path node allows
// raw values (p is its pathNode.raw). The string is reused while the value
// stays the same from document to document.
func (d *jsonDigester) setRaw(slot int32, p *string, v []byte) {
	if len(v) > maxRaw {
		v = truncateUTF8(v, maxRaw)
	}
	if *p != string(v) {
		*p = string(v)
	}
	d.fields[slot].Raw = p
}
