package digest

// The digest implementation as it was before BodyDigester (commit 26bfdae4176f),
// kept verbatim (identifiers prefixed with ref) as the reference the current
// code must match byte for byte. This file: the JSON digester.

import (
	"fmt"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// refDigestJSON parses src and folds every generalised path into one entry (see
// FieldEntry in proto/shadowdiff/v1/digest.proto for the path syntax and the
// canonical form each hash covers). Trailing whitespace is allowed; anything
// else after the value is an error.
func refDigestJSON(src []byte, opts *JSONOptions) (JSONDigest, error) {
	d := refJsonDigester{opts: opts, src: src}
	for tag := range d.keys {
		d.keys[tag] = opts.Key.Tweak(byte(tag + 1))
	}
	if _, err := d.value(0, d.create()); err != nil {
		return JSONDigest{}, err
	}
	d.skipSpace()
	if d.pos != len(d.src) {
		return JSONDigest{}, d.errorf("unexpected data after the top-level value")
	}
	return JSONDigest{Fields: d.fields, FieldsTruncated: d.truncated}, nil
}

type refJsonDigester struct {
	opts      *JSONOptions
	src       []byte
	pos       int
	path      []byte
	fields    []wire.FieldEntry
	nodes     []refNode       // parallel to fields: how to find an entry's children
	keys      [refNumTags]Key // per type tag
	truncated bool
	scratch   []byte
}

// Type tags keep values of different types from hashing alike ("1" vs 1).
const (
	refTagNull = iota
	refTagTrue
	refTagFalse
	refTagNumber
	refTagString
	refNumTags
	refTagObject = 'o' // containers mix their own hashes
	refTagArray  = 'a'
)

// refSyntaxError reports where a body stopped being JSON.
type refSyntaxError struct {
	Offset int
	Msg    string
}

func (e *refSyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

func (d *refJsonDigester) errorf(format string, args ...any) error {
	return &refSyntaxError{Offset: d.pos, Msg: fmt.Sprintf(format, args...)}
}

func (d *refJsonDigester) skipSpace() {
	for d.pos < len(d.src) {
		switch d.src[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// refNode finds the children of an entry without hashing their full paths:
// documents repeat the same members, so a short scan of member names
// (or a map, for wide objects) is all a lookup costs.
type refNode struct {
	keys  []string
	slots []int
	byKey map[string]int
	elem  int // the "[]" child, or -1
}

const refWideObject = 8

// create appends an entry for the current path, or returns -1 when
// MaxFields is reached.
func (d *refJsonDigester) create() int {
	if d.opts.MaxFields > 0 && len(d.fields) >= d.opts.MaxFields {
		d.truncated = true
		return -1
	}
	d.fields = append(d.fields, wire.FieldEntry{Path: string(d.path)})
	d.nodes = append(d.nodes, refNode{elem: -1})
	return len(d.fields) - 1
}

// member returns the entry of member key of entry parent (d.path already
// names it), creating it in document order.
func (d *refJsonDigester) member(parent int, key []byte) int {
	if parent < 0 {
		return -1
	}
	n := &d.nodes[parent]
	if n.byKey != nil {
		if s, ok := n.byKey[string(key)]; ok {
			return s
		}
	} else {
		for i, k := range n.keys {
			if k == string(key) {
				return n.slots[i]
			}
		}
	}
	s := d.create()
	if s < 0 {
		return -1
	}
	n = &d.nodes[parent] // create may have moved it
	k := string(key)
	n.keys = append(n.keys, k)
	n.slots = append(n.slots, s)
	if n.byKey != nil {
		n.byKey[k] = s
	} else if len(n.keys) > refWideObject {
		n.byKey = make(map[string]int, len(n.keys))
		for i, k := range n.keys {
			n.byKey[k] = n.slots[i]
		}
	}
	return s
}

// element returns the "[]" entry of array entry parent.
func (d *refJsonDigester) element(parent int) int {
	if parent < 0 {
		return -1
	}
	if s := d.nodes[parent].elem; s >= 0 {
		return s
	}
	s := d.create()
	if s >= 0 {
		d.nodes[parent].elem = s
	}
	return s
}

// occurrence records one value at entry i.
func (d *refJsonDigester) occurrence(i int, typ wire.JSONType, shape wire.Shape, length int, hash, unordered uint64, elements int, raw func() string) {
	if i < 0 {
		return
	}
	e := &d.fields[i]
	if e.Occurrences == 0 {
		e.Type, e.Shape = typ, shape
	} else {
		if e.Type != typ {
			e.Type = wire.TypeMixed
		}
		if e.Shape != shape {
			e.Shape = wire.ShapeMixed
		}
	}
	e.Occurrences++
	e.ValueHash = mix(e.ValueHash, hash)
	e.UnorderedHash += unordered
	e.Elements += uint32(elements)
	e.LengthBucket = max(e.LengthBucket, LengthBucket(length))
	if e.Raw == nil && d.opts.Raw != nil && d.opts.Raw(e.Path) {
		r := raw()
		if len(r) > maxRaw {
			r = refTruncateUTF8(r, maxRaw)
		}
		e.Raw = &r
	}
}

// value digests the value at d.pos and returns its hash.
func (d *refJsonDigester) value(depth, slot int) (uint64, error) {
	if depth > maxDepth {
		return 0, d.errorf("nesting deeper than %d", maxDepth)
	}
	d.skipSpace()
	if d.pos >= len(d.src) {
		return 0, d.errorf("unexpected end of input")
	}
	start := d.pos
	switch c := d.src[d.pos]; {
	case c == '{':
		return d.object(depth, slot)
	case c == '[':
		return d.array(depth, slot)
	case c == '"':
		s, err := d.str()
		if err != nil {
			return 0, err
		}
		h := d.scalarHash(refTagString, s)
		d.occurrence(slot, wire.TypeString, refStringShape(s), len(s), h, h, 0, func() string { return string(s) })
		return h, nil
	case c == '-' || refIsDigit(c):
		lit, err := d.number()
		if err != nil {
			return 0, err
		}
		canon := refCanonicalNumber(lit, d.scratch[:0])
		d.scratch = canon[:0]
		h := d.scalarHash(refTagNumber, canon)
		d.occurrence(slot, wire.TypeNumber, refNumberShape(lit), 0, h, h, 0, func() string { return string(canon) })
		return h, nil
	}
	for _, lit := range [...]struct {
		text  string
		tag   int
		typ   wire.JSONType
		shape wire.Shape
	}{{"null", refTagNull, wire.TypeNull, wire.ShapeNull}, {"true", refTagTrue, wire.TypeBool, wire.ShapeTrue}, {"false", refTagFalse, wire.TypeBool, wire.ShapeFalse}} {
		if refHasPrefix(d.src[start:], lit.text) {
			d.pos += len(lit.text)
			h := d.scalarHash(lit.tag, nil)
			d.occurrence(slot, lit.typ, lit.shape, 0, h, h, 0, func() string { return lit.text })
			return h, nil
		}
	}
	return 0, d.errorf("unexpected character %q", d.src[start])
}

func (d *refJsonDigester) scalarHash(tag int, b []byte) uint64 {
	return d.keys[tag].Sum64(b)
}

func (d *refJsonDigester) object(depth, slot int) (uint64, error) {
	start := d.pos
	d.pos++ // '{'
	parent := len(d.path)
	var sum uint64 // members combine order-insensitively: key order never matters
	n := 0
	for {
		d.skipSpace()
		if d.pos < len(d.src) && d.src[d.pos] == '}' && n == 0 {
			d.pos++
			break
		}
		if d.pos >= len(d.src) || d.src[d.pos] != '"' {
			return 0, d.errorf("expected a member name")
		}
		key, err := d.str()
		if err != nil {
			return 0, err
		}
		keyHash := FNV1a(key) // member names travel in clear in paths: no key needed
		if parent > 0 {
			d.path = append(d.path, '.')
		}
		d.path = refAppendEscapedKey(d.path, key)
		d.skipSpace()
		if d.pos >= len(d.src) || d.src[d.pos] != ':' {
			return 0, d.errorf("expected ':' after a member name")
		}
		d.pos++
		h, err := d.value(depth+1, d.member(slot, key))
		if err != nil {
			return 0, err
		}
		d.path = d.path[:parent]
		sum += mix(keyHash, h)
		n++
		d.skipSpace()
		if d.pos >= len(d.src) {
			return 0, d.errorf("unexpected end of input in an object")
		}
		if d.src[d.pos] == ',' {
			d.pos++
			continue
		}
		if d.src[d.pos] == '}' {
			d.pos++
			break
		}
		return 0, d.errorf("expected ',' or '}' in an object")
	}
	h := mix(mix(refTagObject, sum), uint64(n))
	d.occurrence(slot, wire.TypeObject, wire.ShapeUnspecified, 0, h, h, 0, d.rawSource(start))
	return h, nil
}

func (d *refJsonDigester) array(depth, slot int) (uint64, error) {
	start := d.pos
	d.pos++ // '['
	parent := len(d.path)
	d.path = append(d.path, "[]"...)
	elem := -2 // looked up on the first element
	ordered, unordered := uint64(refTagArray), uint64(0)
	n := 0
	for {
		d.skipSpace()
		if d.pos < len(d.src) && d.src[d.pos] == ']' && n == 0 {
			d.pos++
			break
		}
		if elem == -2 {
			elem = d.element(slot)
		}
		h, err := d.value(depth+1, elem)
		if err != nil {
			return 0, err
		}
		ordered = mix(ordered, h)
		unordered += mix(h, 0)
		n++
		d.skipSpace()
		if d.pos >= len(d.src) {
			return 0, d.errorf("unexpected end of input in an array")
		}
		if d.src[d.pos] == ',' {
			d.pos++
			continue
		}
		if d.src[d.pos] == ']' {
			d.pos++
			break
		}
		return 0, d.errorf("expected ',' or ']' in an array")
	}
	d.path = d.path[:parent]
	h := mix(ordered, uint64(n))
	d.occurrence(slot, wire.TypeArray, wire.ShapeUnspecified, n, h, mix(unordered, uint64(n)), n, d.rawSource(start))
	return h, nil
}

// rawSource returns the source text of a container as its raw value.
func (d *refJsonDigester) rawSource(start int) func() string {
	return func() string { return string(d.src[start:min(d.pos, start+maxRaw)]) }
}
