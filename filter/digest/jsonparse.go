package digest

import (
	"encoding/binary"
	"math/bits"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// parse digests one document. It is a single loop over an explicit stack of
// open containers rather than a recursive descent: under Wasm a function
// call costs far more than a jump, so values, member names and container
// ends are all handled here, and only rare paths (escapes, non-integer
// numbers, first sight of a path) call out.
//
// See FieldEntry in proto/shadowdiff/v1/digest.proto for the path syntax
// and the canonical form each hash covers. Errors (messages and offsets)
// are those of the recursive digester this replaced.
func (d *jsonDigester) parse(src []byte) error {
	var (
		pos   int
		depth int    // open containers
		node  int32  // path node of the value at pos (-1: not listed)
		slot  int32  // its entry
		h     uint64 // hash of the value just parsed
		top   *frame
		s     []byte
		err   error
	)
	node = d.paths.root()
	if slot = d.slotOf(node); slot < 0 {
		node = -1
	}

value:
	if depth > maxDepth {
		return syntaxErr(pos, "nesting deeper than %d", maxDepth)
	}
	pos = ws(src, pos)
	if pos >= len(src) {
		return syntaxErr(pos, "unexpected end of input")
	}
	switch c := src[pos]; valueKind[c] {
	case kString:
		start := pos + 1
		i := start
		if i+8 > len(src) {
			i = scanPlain(src, i)
		} else if m := specialBytes(binary.LittleEndian.Uint64(src[i:])); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
		} else {
			i = scanPlain(src, i+8)
		}
		if i < len(src) && src[i] == '"' {
			s, pos = src[start:i], i+1
		} else if s, pos, err = d.strSlow(src, start, i); err != nil {
			return err
		}
		h = d.scalarHash(s, tagString)
		if slot >= 0 {
			shape := wire.ShapeText
			if !shortText(s) {
				shape = StringShape(s)
			}
			e := &d.fields[slot]
			if !typed(e, wire.TypeString, shape) {
				setType(e, wire.TypeString, shape)
			}
			record(e, LengthBucket(len(s)), h, h, 0)
			if d.paths.nodes[node].raw != nil && e.Raw == nil {
				d.setRaw(slot, d.paths.nodes[node].raw, s)
			}
		}
	case kContainer:
		if depth == len(d.stack) {
			d.stack = append(d.stack, frame{})
		}
		top = &d.stack[depth]
		depth++
		*top = frame{node: node, slot: slot, last: -1, pred: -1, array: c == '[', start: pos}
		pos = ws(src, pos+1)
		if top.array {
			top.last = -2
			top.sum = tagArray
			if pos < len(src) && src[pos] == ']' {
				pos++
				goto closeArray
			}
			goto element
		}
		if node >= 0 {
			top.pred = d.paths.nodes[node].first
		}
		if pos < len(src) && src[pos] == '}' {
			pos++
			goto closeObject
		}
		goto member
	case kNumber:
		start := pos
		integer, exponent := true, false
		if c == '-' {
			pos++
		}
		intStart := pos
		if pos+8 > len(src) {
			pos = scanDigits(src, pos)
		} else if m := nonDigits(binary.LittleEndian.Uint64(src[pos:])); m != 0 {
			pos += bits.TrailingZeros64(m) >> 3
		} else {
			pos = scanDigits(src, pos+8)
		}
		if pos == intStart || (src[intStart] == '0' && pos-intStart > 1) {
			return syntaxErr(pos, "bad number")
		}
		if pos < len(src) && src[pos] == '.' {
			integer = false
			pos++
			fs := pos
			for pos < len(src) && isDigit(src[pos]) {
				pos++
			}
			if pos == fs {
				return syntaxErr(pos, "bad number fraction")
			}
		}
		if pos < len(src) && (src[pos] == 'e' || src[pos] == 'E') {
			integer, exponent = false, true
			pos++
			if pos < len(src) && (src[pos] == '+' || src[pos] == '-') {
				pos++
			}
			es := pos
			for pos < len(src) && isDigit(src[pos]) {
				pos++
			}
			if pos == es {
				return syntaxErr(pos, "bad number exponent")
			}
		}
		lit := src[start:pos]
		shape := wire.ShapeDecimal
		switch {
		case integer:
			// JSON integers have no leading zeros: the literal is its
			// canonical form (but -0 is 0, and one with more than
			// plainZeros trailing zeros has an exponent), and epochs are
			// told by length.
			s = lit
			if string(lit) == "-0" || (len(lit) > plainZeros+1 && lit[len(lit)-1] == '0') {
				s = canonicalNumber(lit, d.canon[:0])
				d.canon = s[:0]
			}
			shape = wire.ShapeInteger
			if c != '-' && len(lit) == 10 {
				shape = wire.ShapeEpochSeconds
			} else if c != '-' && len(lit) == 13 {
				shape = wire.ShapeEpochMillis
			}
		case !exponent && lit[len(lit)-1] != '0' && (src[intStart] != '0' || len(lit) <= plainZeros+3):
			// A decimal with no trailing zero is canonical, unless it
			// is 0.000... with more than plainZeros zeros (which takes
			// more than plainZeros+3 bytes).
			s = lit
		default:
			s = canonicalNumber(lit, d.canon[:0])
			d.canon = s[:0]
		}
		h = d.scalarHash(s, tagNumber)
		if slot >= 0 {
			e := &d.fields[slot]
			if !typed(e, wire.TypeNumber, shape) {
				setType(e, wire.TypeNumber, shape)
			}
			record(e, 0, h, h, 0)
			if d.paths.nodes[node].raw != nil && e.Raw == nil {
				d.setRaw(slot, d.paths.nodes[node].raw, s)
			}
		}
	default:
		var typ wire.JSONType
		var shape wire.Shape
		var n int
		switch {
		case c == 'n' && hasPrefix(src[pos:], "null"):
			typ, shape, h, n = wire.TypeNull, wire.ShapeNull, d.litHash[tagNull], 4
		case c == 't' && hasPrefix(src[pos:], "true"):
			typ, shape, h, n = wire.TypeBool, wire.ShapeTrue, d.litHash[tagTrue], 4
		case c == 'f' && hasPrefix(src[pos:], "false"):
			typ, shape, h, n = wire.TypeBool, wire.ShapeFalse, d.litHash[tagFalse], 5
		default:
			return syntaxErr(pos, "unexpected character %q", c)
		}
		pos += n
		if slot >= 0 {
			e := &d.fields[slot]
			if !typed(e, typ, shape) {
				setType(e, typ, shape)
			}
			record(e, 0, h, h, 0)
			if d.paths.nodes[node].raw != nil && e.Raw == nil {
				d.setRaw(slot, d.paths.nodes[node].raw, src[pos-n:pos])
			}
		}
	}

	// The value just parsed has hash h: fold it into its container.
done:
	if depth == 0 {
		pos = skipSpace(src, pos)
		if pos != len(src) {
			return syntaxErr(pos, "unexpected data after the top-level value")
		}
		return nil
	}
	top = &d.stack[depth-1]
	top.n++
	pos = ws(src, pos)
	if top.array {
		top.sum = mix(top.sum, h)
		top.unordered += mix(h, 0)
		if pos >= len(src) {
			return syntaxErr(pos, "unexpected end of input in an array")
		}
		switch src[pos] {
		case ',':
			pos = ws(src, pos+1)
			node, slot = top.last, top.pred
			goto value
		case ']':
			pos++
			goto closeArray
		}
		return syntaxErr(pos, "expected ',' or ']' in an array")
	}
	top.sum += mix(top.keyHash, h) // members combine order-insensitively
	if pos >= len(src) {
		return syntaxErr(pos, "unexpected end of input in an object")
	}
	switch src[pos] {
	case ',':
		pos = ws(src, pos+1)
		goto member
	case '}':
		pos++
		goto closeObject
	}
	return syntaxErr(pos, "expected ',' or '}' in an object")

	// At pos (after any space) a member name is due.
member:
	if pos >= len(src) || src[pos] != '"' {
		return syntaxErr(pos, "expected a member name")
	}
	{
		start := pos + 1
		node = -1
		// Objects at one path tend to list the same members in the same
		// order: check the predicted name with a word compare before
		// hashing the name and looking it up.
		if p := top.pred; p >= 0 {
			pn := &d.paths.nodes[p]
			end := start + len(pn.key)
			if pn.plain && end < len(src) && src[end] == '"' && start+8 <= len(src) &&
				binary.LittleEndian.Uint64(src[start:])&(1<<(8*min(len(pn.key), 8))-1) == pn.keyWord &&
				(len(pn.key) <= 8 || string(src[start+8:end]) == pn.key[8:]) {
				node, pos, top.keyHash = p, end+1, pn.keyHash
			}
		}
		if node < 0 {
			i := start
			kh := uint64(fnvOffset)
			for i < len(src) {
				c := src[i]
				if byteClass[c]&cSpecial != 0 {
					break
				}
				kh = (kh ^ uint64(c)) * fnvPrime
				i++
			}
			if i < len(src) && src[i] == '"' {
				s, pos = src[start:i], i+1
			} else {
				if s, pos, err = d.strSlow(src, start, i); err != nil {
					return err
				}
				kh = FNV1a(s)
			}
			top.keyHash = kh // member names travel in clear in paths: no key needed
		}
		pos = ws(src, pos)
		if pos >= len(src) || src[pos] != ':' {
			return syntaxErr(pos, "expected ':' after a member name")
		}
		pos++
		slot = -1
		if top.node < 0 {
			node = -1
		} else {
			if node < 0 {
				node, slot = d.member(top.node, s, top.keyHash)
			} else if slot = d.slotOf(node); slot < 0 {
				node = -1
			}
			if node >= 0 {
				if top.last >= 0 {
					d.paths.nodes[top.last].next = node
				} else {
					d.paths.nodes[top.node].first = node
				}
				top.pred = d.paths.nodes[node].next
			} else {
				top.pred = -1
			}
			top.last = node
		}
	}
	goto value

	// At pos (after any space) an element is due.
element:
	if top.last == -2 {
		top.last, top.pred = -1, -1
		if top.node >= 0 {
			top.last, top.pred = d.element(top.node)
		}
	}
	node, slot = top.last, top.pred
	goto value

closeObject:
	h = mix(mix(tagObject, top.sum), uint64(top.n))
	if top.slot >= 0 {
		e := &d.fields[top.slot]
		if !typed(e, wire.TypeObject, wire.ShapeUnspecified) {
			setType(e, wire.TypeObject, wire.ShapeUnspecified)
		}
		record(e, 0, h, h, 0)
		if d.paths.nodes[top.node].raw != nil && e.Raw == nil {
			d.containerRaw(top, src, pos)
		}
	}
	depth--
	goto done

closeArray:
	h = mix(top.sum, uint64(top.n))
	if top.slot >= 0 {
		e := &d.fields[top.slot]
		if !typed(e, wire.TypeArray, wire.ShapeUnspecified) {
			setType(e, wire.TypeArray, wire.ShapeUnspecified)
		}
		record(e, LengthBucket(int(top.n)), h, mix(top.unordered, uint64(top.n)), uint32(top.n))
		if d.paths.nodes[top.node].raw != nil && e.Raw == nil {
			d.containerRaw(top, src, pos)
		}
	}
	depth--
	goto done
}

// containerRaw records the source text of a closed container as its raw
// value.
func (d *jsonDigester) containerRaw(top *frame, src []byte, end int) {
	d.setRaw(top.slot, d.paths.nodes[top.node].raw, src[top.start:min(end, top.start+maxRaw)])
}
