package digest

// The digest implementation as it was before BodyDigester (commit 26bfdae4176f),
// kept verbatim (identifiers prefixed with ref) as the reference the current
// code must match byte for byte.

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

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

// str consumes a string literal and returns its unescaped bytes (valid until
// the next call).
func (d *refJsonDigester) str() ([]byte, error) {
	d.pos++ // opening quote
	start := d.pos
	// Fast path: no escape or control character before the closing quote.
	if i := bytes.IndexByte(d.src[start:], '"'); i >= 0 {
		s := d.src[start : start+i]
		if bytes.IndexByte(s, '\\') < 0 && !refHasControl(s) {
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

func refHasControl(s []byte) bool {
	for _, c := range s {
		if c < 0x20 {
			return true
		}
	}
	return false
}

func (d *refJsonDigester) strEscaped(start int) ([]byte, error) {
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
				if refHasPrefix(d.src[d.pos:], `\u`) {
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

func (d *refJsonDigester) hex4() (rune, bool) {
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
func (d *refJsonDigester) number() ([]byte, error) {
	start := d.pos
	if d.src[d.pos] == '-' {
		d.pos++
	}
	intStart := d.pos
	for d.pos < len(d.src) && refIsDigit(d.src[d.pos]) {
		d.pos++
	}
	if d.pos == intStart || (d.src[intStart] == '0' && d.pos-intStart > 1) {
		return nil, d.errorf("bad number")
	}
	if d.pos < len(d.src) && d.src[d.pos] == '.' {
		d.pos++
		fs := d.pos
		for d.pos < len(d.src) && refIsDigit(d.src[d.pos]) {
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
		for d.pos < len(d.src) && refIsDigit(d.src[d.pos]) {
			d.pos++
		}
		if d.pos == es {
			return nil, d.errorf("bad number exponent")
		}
	}
	return d.src[start:d.pos], nil
}

// refCanonicalNumber gives equal numbers one spelling: 1, 1.0, 1e0 and 10e-1
// are all "1". Integer literals too long for a float64 keep their refDigits so
// large ids never collide.
func refCanonicalNumber(lit, buf []byte) []byte {
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
		if c, ok := refCanonicalDecimal(lit, buf); ok {
			return c
		}
	}
	if integer && (digitsLen > 15 || string(lit) != "-0") {
		// JSON integers have no leading zeros: the literal is canonical
		// (and longer ones keep their refDigits so large ids never collide).
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

// refCanonicalDecimal handles the common "-?refDigits.digits" form without
// floating point (strconv's float code is slow under Wasm): trailing zeros
// of the fraction go, so 1.50 is 1.5 and 2.0 is 2, as the float path would
// print them. Exponents are left to the float path.
func refCanonicalDecimal(lit, buf []byte) ([]byte, bool) {
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

// refAppendEscapedKey escapes the path metacharacters '.', '[', ']' and '\'.
// An empty key is written `""` so it cannot be confused with its parent.
func refAppendEscapedKey(b, key []byte) []byte {
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

func refTruncateUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// refStringShape classifies a string value so a field that is noise by value
// (a timestamp, a random id) can still be compared by what it looks like.
// It never allocates.
func refStringShape(s []byte) wire.Shape {
	switch {
	case len(s) == 0:
		return wire.ShapeEmpty
	case refIsUUID(s):
		return wire.ShapeUUID
	case refIsDate(s):
		if len(s) == 10 {
			return wire.ShapeDate
		}
		if refIsTimestampTail(s[10:]) {
			return wire.ShapeTimestamp
		}
	case refIsHTTPDate(s):
		return wire.ShapeTimestamp
	}
	switch {
	case refIsNumeric(s):
		return wire.ShapeNumeric
	case len(s) >= 8 && refAllHex(s):
		return wire.ShapeHex
	case refHasPrefix(s, "http://") || refHasPrefix(s, "https://"):
		return wire.ShapeURL
	case refIsEmail(s):
		return wire.ShapeEmail
	case len(s) >= 16 && refIsBase64Token(s):
		return wire.ShapeBase64
	}
	return wire.ShapeText
}

// refNumberShape classifies a JSON number literal.
func refNumberShape(lit []byte) wire.Shape {
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			return wire.ShapeDecimal
		}
	}
	n, err := strconv.ParseInt(string(lit), 10, 64)
	switch {
	case err != nil:
		return wire.ShapeInteger // beyond int64: still an integer
	case n >= 1e9 && n < 1e10:
		return wire.ShapeEpochSeconds
	case n >= 1e12 && n < 1e13:
		return wire.ShapeEpochMillis
	}
	return wire.ShapeInteger
}

// share a bucket.

func refHasPrefix(s []byte, p string) bool { return len(s) >= len(p) && string(s[:len(p)]) == p }

func refIsDigit(c byte) bool { return c >= '0' && c <= '9' }

func refIsHexDigit(c byte) bool {
	return refIsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func refAllHex(s []byte) bool {
	for _, c := range s {
		if !refIsHexDigit(c) {
			return false
		}
	}
	return true
}

func refDigits(s []byte) bool {
	for _, c := range s {
		if !refIsDigit(c) {
			return false
		}
	}
	return len(s) > 0
}

// refIsUUID: 8-4-4-4-12 hex refDigits.
func refIsUUID(s []byte) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !refIsHexDigit(c) {
				return false
			}
		}
	}
	return true
}

// refIsDate: YYYY-MM-DD at the start of s.
func refIsDate(s []byte) bool {
	return len(s) >= 10 && refDigits(s[0:4]) && s[4] == '-' && refDigits(s[5:7]) && s[7] == '-' && refDigits(s[8:10])
}

// refIsTimestampTail: the "THH:MM[:SS[.frac]][Z|±HH:MM]" after a date.
func refIsTimestampTail(s []byte) bool {
	if len(s) < 6 || (s[0] != 'T' && s[0] != 't' && s[0] != ' ') || !refDigits(s[1:3]) || s[3] != ':' || !refDigits(s[4:6]) {
		return false
	}
	s = s[6:]
	if len(s) >= 3 && s[0] == ':' && refDigits(s[1:3]) {
		s = s[3:]
		if len(s) > 0 && (s[0] == '.' || s[0] == ',') {
			i := 1
			for i < len(s) && refIsDigit(s[i]) {
				i++
			}
			s = s[i:]
		}
	}
	switch {
	case len(s) == 0, len(s) == 1 && (s[0] == 'Z' || s[0] == 'z'):
		return true
	case len(s) == 6 && (s[0] == '+' || s[0] == '-') && refDigits(s[1:3]) && s[3] == ':' && refDigits(s[4:6]):
		return true
	case len(s) == 5 && (s[0] == '+' || s[0] == '-') && refDigits(s[1:5]):
		return true
	}
	return false
}

// refIsHTTPDate: IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT".
func refIsHTTPDate(s []byte) bool {
	return len(s) == 29 && s[3] == ',' && s[4] == ' ' && refDigits(s[5:7]) && refDigits(s[12:16]) &&
		s[19] == ':' && s[22] == ':' && string(s[26:]) == "GMT"
}

func refIsNumeric(s []byte) bool {
	i := 0
	if s[0] == '-' || s[0] == '+' {
		i++
	}
	seenDigit, seenDot := false, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case refIsDigit(c):
			seenDigit = true
		case c == '.' && !seenDot:
			seenDot = true
		default:
			return false
		}
	}
	return seenDigit
}

func refIsEmail(s []byte) bool {
	at := -1
	for i, c := range s {
		switch c {
		case '@':
			if at >= 0 {
				return false
			}
			at = i
		case ' ', '\t', '\n':
			return false
		}
	}
	if at <= 0 || at == len(s)-1 {
		return false
	}
	for _, c := range s[at+1:] {
		if c == '.' {
			return true
		}
	}
	return false
}

// refIsBase64Token: base64 or base64url alphabet with optional padding, and
// both letters and refDigits (so long words are TEXT, not tokens).
func refIsBase64Token(s []byte) bool {
	letters, nums := false, false
	end := len(s)
	for end > 0 && s[end-1] == '=' {
		end--
	}
	if len(s)-end > 2 {
		return false
	}
	for _, c := range s[:end] {
		switch {
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			letters = true
		case refIsDigit(c):
			nums = true
		case c == '+' || c == '/' || c == '-' || c == '_':
		default:
			return false
		}
	}
	return letters && nums
}

// refDigestBody digests a captured body: its kind, a keyed hash of the decoded
// bytes and, for JSON, the field entries.
func refDigestBody(b Body, opts *BodyOptions) *wire.BodyDigest {
	d := &wire.BodyDigest{
		ContentType:     refMediaType(b.ContentType),
		ContentEncoding: strings.ToLower(strings.TrimSpace(b.ContentEncoding)),
		WireSize:        b.WireSize,
		Truncated:       b.Truncated,
	}
	data, err := refDecode(d, b.Data, opts.MaxDecodedBytes)
	if err != nil {
		d.Error = err.Error()
	}
	d.DecodedSize = uint64(len(data))
	if len(data) > 0 {
		d.Hash = opts.JSON.Key.Sum64(data)
	}
	switch {
	case len(data) == 0 && b.WireSize == 0:
		d.Kind = wire.BodyEmpty
	case err != nil:
		d.Kind = wire.BodyBinary
	case refIsJSONMedia(d.ContentType) || (d.ContentType == "" && refLooksLikeJSON(data)):
		jd, jerr := refDigestJSON(data, &opts.JSON)
		if jerr != nil {
			d.Kind = wire.BodyInvalidJSON
			d.Error = jerr.Error()
			if d.Truncated || d.DecodeBudgetExceeded {
				d.Error = "body truncated at the digest limit: " + d.Error
			}
			break
		}
		d.Kind = wire.BodyJSON
		d.Fields, d.FieldsTruncated = jd.Fields, jd.FieldsTruncated
	case strings.HasPrefix(d.ContentType, "text/") || utf8.Valid(data):
		d.Kind = wire.BodyText
	default:
		d.Kind = wire.BodyBinary
	}
	return d
}

// refDecode undoes the content encoding within the budget. An error means the
// body could not be decoded; the caller falls back to the wire bytes.
func refDecode(d *wire.BodyDigest, data []byte, budget int) ([]byte, error) {
	var r io.Reader
	switch d.ContentEncoding {
	case "", "identity":
		return data, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return data, fmt.Errorf("gzip: %w", err)
		}
		r = zr
	case "deflate":
		r = flate.NewReader(bytes.NewReader(data))
	default:
		return data, fmt.Errorf("content-encoding %q is not decoded", d.ContentEncoding)
	}
	if budget <= 0 {
		budget = 4 << 20
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(budget)+1))
	if len(out) > budget {
		d.DecodeBudgetExceeded = true
		return out[:budget], nil
	}
	if err != nil {
		if d.Truncated && (err == io.ErrUnexpectedEOF || err == io.EOF) {
			return out, nil // a captured prefix ends mid-stream
		}
		return data, fmt.Errorf("%s: %w", d.ContentEncoding, err)
	}
	return out, nil
}

// refMediaType lower-cases a Content-Type and drops its parameters.
func refMediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

func refIsJSONMedia(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/json"
}

func refLooksLikeJSON(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// refDigestHeaders digests response headers, one entry per name (values of a
// repeated header joined by ","), sorted by name.
func refDigestHeaders(hs [][2]string, opts *HeaderOptions) []wire.HeaderDigest {
	joined := map[string]string{}
	var names []string
	for _, h := range hs {
		name := strings.ToLower(h[0])
		if !refWanted(name, opts) {
			continue
		}
		if v, ok := joined[name]; ok {
			joined[name] = v + "," + h[1]
			continue
		}
		joined[name] = h[1]
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]wire.HeaderDigest, 0, len(names))
	for _, name := range names {
		v := joined[name]
		hd := wire.HeaderDigest{Name: name, ValueHash: opts.Key.SumString(v), Shape: refStringShape([]byte(v))}
		if opts.Raw != nil && opts.Raw(name) {
			r := v
			if len(r) > maxRaw {
				r = refTruncateUTF8(r, maxRaw)
			}
			hd.Raw = &r
		}
		out = append(out, hd)
	}
	return out
}

func refWanted(name string, opts *HeaderOptions) bool {
	if len(opts.Include) > 0 {
		return slices.Contains(opts.Include, name)
	}
	return !slices.Contains(opts.Exclude, name)
}
