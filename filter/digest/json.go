package digest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// maxDepth bounds nesting so a hostile body cannot exhaust the stack.
const maxDepth = 256

// maxRaw bounds a raw value sent for an allowlisted field.
const maxRaw = 256

// JSONOptions configures field digests.
type JSONOptions struct {
	Key Key
	// MaxFields bounds the distinct paths listed; 0 means no bound.
	MaxFields int
	// Raw reports whether the raw value of a body path ("user.tier") may be
	// sent. nil: never.
	Raw func(path string) bool
}

// JSONDigest is the field-level digest of a JSON document.
type JSONDigest struct {
	Fields []wire.FieldEntry
	// FieldsTruncated: more distinct paths than MaxFields.
	FieldsTruncated bool
}

// DigestJSON parses src and folds every generalised path into one entry (see
// FieldEntry in proto/shadowdiff/v1/digest.proto for the path syntax and the
// canonical form each hash covers). Trailing whitespace is allowed; anything
// else after the value is an error.
func DigestJSON(src []byte, opts *JSONOptions) (JSONDigest, error) {
	d := jsonDigester{opts: opts, src: src}
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

type jsonDigester struct {
	opts      *JSONOptions
	src       []byte
	pos       int
	path      []byte
	fields    []wire.FieldEntry
	nodes     []node       // parallel to fields: how to find an entry's children
	keys      [numTags]Key // per type tag
	truncated bool
	scratch   []byte
}

// Type tags keep values of different types from hashing alike ("1" vs 1).
const (
	tagNull = iota
	tagTrue
	tagFalse
	tagNumber
	tagString
	numTags
	tagObject = 'o' // containers mix their own hashes
	tagArray  = 'a'
)

// SyntaxError reports where a body stopped being JSON.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

func (d *jsonDigester) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: d.pos, Msg: fmt.Sprintf(format, args...)}
}

func (d *jsonDigester) skipSpace() {
	for d.pos < len(d.src) {
		switch d.src[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// node finds the children of an entry without hashing their full paths:
// documents repeat the same members, so a short scan of member names
// (or a map, for wide objects) is all a lookup costs.
type node struct {
	keys  []string
	slots []int
	byKey map[string]int
	elem  int // the "[]" child, or -1
}

const wideObject = 8

// create appends an entry for the current path, or returns -1 when
// MaxFields is reached.
func (d *jsonDigester) create() int {
	if d.opts.MaxFields > 0 && len(d.fields) >= d.opts.MaxFields {
		d.truncated = true
		return -1
	}
	d.fields = append(d.fields, wire.FieldEntry{Path: string(d.path)})
	d.nodes = append(d.nodes, node{elem: -1})
	return len(d.fields) - 1
}

// member returns the entry of member key of entry parent (d.path already
// names it), creating it in document order.
func (d *jsonDigester) member(parent int, key []byte) int {
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
	} else if len(n.keys) > wideObject {
		n.byKey = make(map[string]int, len(n.keys))
		for i, k := range n.keys {
			n.byKey[k] = n.slots[i]
		}
	}
	return s
}

// element returns the "[]" entry of array entry parent.
func (d *jsonDigester) element(parent int) int {
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
func (d *jsonDigester) occurrence(i int, typ wire.JSONType, shape wire.Shape, length int, hash, unordered uint64, elements int, raw func() string) {
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
			r = truncateUTF8(r, maxRaw)
		}
		e.Raw = &r
	}
}

// value digests the value at d.pos and returns its hash.
func (d *jsonDigester) value(depth, slot int) (uint64, error) {
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
		h := d.scalarHash(tagString, s)
		d.occurrence(slot, wire.TypeString, StringShape(s), len(s), h, h, 0, func() string { return string(s) })
		return h, nil
	case c == '-' || isDigit(c):
		lit, err := d.number()
		if err != nil {
			return 0, err
		}
		canon := canonicalNumber(lit, d.scratch[:0])
		d.scratch = canon[:0]
		h := d.scalarHash(tagNumber, canon)
		d.occurrence(slot, wire.TypeNumber, NumberShape(lit), 0, h, h, 0, func() string { return string(canon) })
		return h, nil
	}
	for _, lit := range [...]struct {
		text  string
		tag   int
		typ   wire.JSONType
		shape wire.Shape
	}{{"null", tagNull, wire.TypeNull, wire.ShapeNull}, {"true", tagTrue, wire.TypeBool, wire.ShapeTrue}, {"false", tagFalse, wire.TypeBool, wire.ShapeFalse}} {
		if hasPrefix(d.src[start:], lit.text) {
			d.pos += len(lit.text)
			h := d.scalarHash(lit.tag, nil)
			d.occurrence(slot, lit.typ, lit.shape, 0, h, h, 0, func() string { return lit.text })
			return h, nil
		}
	}
	return 0, d.errorf("unexpected character %q", d.src[start])
}

func (d *jsonDigester) scalarHash(tag int, b []byte) uint64 {
	return d.keys[tag].Sum64(b)
}

func (d *jsonDigester) object(depth, slot int) (uint64, error) {
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
		d.path = appendEscapedKey(d.path, key)
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
	h := mix(mix(tagObject, sum), uint64(n))
	d.occurrence(slot, wire.TypeObject, wire.ShapeUnspecified, 0, h, h, 0, d.rawSource(start))
	return h, nil
}

func (d *jsonDigester) array(depth, slot int) (uint64, error) {
	start := d.pos
	d.pos++ // '['
	parent := len(d.path)
	d.path = append(d.path, "[]"...)
	elem := -2 // looked up on the first element
	ordered, unordered := uint64(tagArray), uint64(0)
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

// FNV1a is the unkeyed 64-bit FNV-1a hash, for what needs no secret:
// member names (they travel in clear in paths) and sampling decisions.
// Unlike hash/fnv it takes a string or bytes without allocating.
func FNV1a[T string | []byte](b T) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= 0x100000001b3
	}
	return h
}

// rawSource returns the source text of a container as its raw value.
func (d *jsonDigester) rawSource(start int) func() string {
	return func() string { return string(d.src[start:min(d.pos, start+maxRaw)]) }
}

// str consumes a string literal and returns its unescaped bytes (valid until
// the next call).
func (d *jsonDigester) str() ([]byte, error) {
	d.pos++ // opening quote
	start := d.pos
	// Fast path: no escape or control character before the closing quote.
	if i := bytes.IndexByte(d.src[start:], '"'); i >= 0 {
		s := d.src[start : start+i]
		if bytes.IndexByte(s, '\\') < 0 && !hasControl(s) {
			d.pos = start + i + 1
			return s, nil
		}
	}
	for d.pos < len(d.src) {
		c := d.src[d.pos]
		switch {
		case c == '"':
			d.pos++
			return d.src[start : d.pos-1], nil
		case c == '\\':
			return d.strEscaped(start)
		case c < 0x20:
			return nil, d.errorf("control character in a string")
		}
		d.pos++
	}
	return nil, d.errorf("unterminated string")
}

func hasControl(s []byte) bool {
	for _, c := range s {
		if c < 0x20 {
			return true
		}
	}
	return false
}

func (d *jsonDigester) strEscaped(start int) ([]byte, error) {
	out := append(d.scratch[:0], d.src[start:d.pos]...)
	for d.pos < len(d.src) {
		c := d.src[d.pos]
		switch {
		case c == '"':
			d.pos++
			d.scratch = out[:0]
			return out, nil
		case c < 0x20:
			return nil, d.errorf("control character in a string")
		case c != '\\':
			out = append(out, c)
			d.pos++
			continue
		}
		if d.pos+1 >= len(d.src) {
			break
		}
		e := d.src[d.pos+1]
		d.pos += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return nil, d.errorf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if hasPrefix(d.src[d.pos:], `\u`) {
					d.pos += 2
					var ok bool
					if r2, ok = d.hex4(); !ok {
						return nil, d.errorf("bad \\u escape")
					}
				}
				r = utf16.DecodeRune(r, r2)
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, d.errorf("bad escape \\%c", e)
		}
	}
	return nil, d.errorf("unterminated string")
}

func (d *jsonDigester) hex4() (rune, bool) {
	if d.pos+4 > len(d.src) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(d.src[d.pos:d.pos+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	d.pos += 4
	return rune(v), true
}

// number consumes a number literal per RFC 8259.
func (d *jsonDigester) number() ([]byte, error) {
	start := d.pos
	if d.src[d.pos] == '-' {
		d.pos++
	}
	intStart := d.pos
	for d.pos < len(d.src) && isDigit(d.src[d.pos]) {
		d.pos++
	}
	if d.pos == intStart || (d.src[intStart] == '0' && d.pos-intStart > 1) {
		return nil, d.errorf("bad number")
	}
	if d.pos < len(d.src) && d.src[d.pos] == '.' {
		d.pos++
		fs := d.pos
		for d.pos < len(d.src) && isDigit(d.src[d.pos]) {
			d.pos++
		}
		if d.pos == fs {
			return nil, d.errorf("bad number fraction")
		}
	}
	if d.pos < len(d.src) && (d.src[d.pos] == 'e' || d.src[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.src) && (d.src[d.pos] == '+' || d.src[d.pos] == '-') {
			d.pos++
		}
		es := d.pos
		for d.pos < len(d.src) && isDigit(d.src[d.pos]) {
			d.pos++
		}
		if d.pos == es {
			return nil, d.errorf("bad number exponent")
		}
	}
	return d.src[start:d.pos], nil
}

// canonicalNumber gives equal numbers one spelling: 1, 1.0, 1e0 and 10e-1
// are all "1". Integer literals too long for a float64 keep their digits so
// large ids never collide.
func canonicalNumber(lit, buf []byte) []byte {
	integer := true
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			integer = false
			break
		}
	}
	digitsLen := len(lit)
	if lit[0] == '-' {
		digitsLen--
	}
	if !integer {
		if c, ok := canonicalDecimal(lit, buf); ok {
			return c
		}
	}
	if integer && (digitsLen > 15 || string(lit) != "-0") {
		// JSON integers have no leading zeros: the literal is canonical
		// (and longer ones keep their digits so large ids never collide).
		return append(buf, lit...)
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return append(buf, lit...)
	}
	if f == 0 {
		return append(buf, '0') // -0 is 0
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.AppendFloat(buf, f, 'f', -1, 64)
	}
	return strconv.AppendFloat(buf, f, 'g', -1, 64)
}

// canonicalDecimal handles the common "-?digits.digits" form without
// floating point (strconv's float code is slow under Wasm): trailing zeros
// of the fraction go, so 1.50 is 1.5 and 2.0 is 2, as the float path would
// print them. Exponents are left to the float path.
func canonicalDecimal(lit, buf []byte) ([]byte, bool) {
	dot := -1
	for i, c := range lit {
		switch {
		case c == '.':
			dot = i
		case c == 'e' || c == 'E':
			return nil, false
		}
	}
	if dot < 0 {
		return nil, false
	}
	end := len(lit)
	for end > dot+1 && lit[end-1] == '0' {
		end--
	}
	if end == dot+1 {
		end = dot // no fraction left
	}
	out := lit[:end]
	if string(out) == "-0" {
		out = out[1:]
	}
	return append(buf, out...), true
}

// appendEscapedKey escapes the path metacharacters '.', '[', ']' and '\'.
// An empty key is written `""` so it cannot be confused with its parent.
func appendEscapedKey(b, key []byte) []byte {
	if len(key) == 0 {
		return append(b, `""`...)
	}
	for _, c := range key {
		switch c {
		case '.', '[', ']', '\\':
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return b
}

func truncateUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
