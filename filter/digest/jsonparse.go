package digest

import (
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
		class uint8
		err   error
	)
	node = d.paths.root()
	slot = d.slotOf(node)
	if slot < 0 {
		node = -1
	}

value:
	if depth > maxDepth {
		return syntaxErr(pos, "nesting deeper than %d", maxDepth)
	}
	pos = skipSpace(src, pos)
	if pos >= len(src) {
		return syntaxErr(pos, "unexpected end of input")
	}
	switch c := src[pos]; {
	case c == '"':
		start := pos + 1
		i := start
		class = 0
		for i < len(src) {
			k := byteClass[src[i]]
			if k&cSpecial != 0 {
				break
			}
			class |= k
			i++
		}
		if i < len(src) && src[i] == '"' {
			s, pos = src[start:i], i+1
		} else {
			if s, pos, err = d.strSlow(src, start, i); err != nil {
				return err
			}
			class = classOf(s)
		}
		h = d.keys[tagString].Sum64(s)
		if slot >= 0 {
			shape := wire.ShapeText
			if !shortText(len(s), class) {
				shape = shapeOf(s, class)
			}
			record(&d.fields[slot], wire.TypeString, shape, LengthBucket(len(s)), h, h, 0)
			if p := d.paths.nodes[node].raw; p != nil && d.fields[slot].Raw == nil {
				d.setRaw(slot, p, s)
			}
		}
	case c == '{' || c == '[':
		if depth == len(d.stack) {
			d.stack = append(d.stack, frame{})
		}
		top = &d.stack[depth]
		depth++
		*top = frame{node: node, slot: slot, elemNode: -2, array: c == '[', start: pos}
		pos = skipSpace(src, pos+1)
		if top.array {
			top.sum = tagArray
			if pos < len(src) && src[pos] == ']' {
				pos++
				goto closeArray
			}
			goto element
		}
		if pos < len(src) && src[pos] == '}' {
			pos++
			goto closeObject
		}
		goto member
	case c == '-' || isDigit(c):
		start := pos
		integer := true
		if c == '-' {
			pos++
		}
		intStart := pos
		for pos < len(src) && isDigit(src[pos]) {
			pos++
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
			integer = false
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
		if integer {
			// JSON integers have no leading zeros: the literal is its
			// canonical form (but -0 is 0), and epochs are told by length.
			s = lit
			if string(lit) == "-0" {
				s = append(d.canon[:0], '0')
			}
			switch {
			case len(lit) == 10 && c != '-':
				shape = wire.ShapeEpochSeconds
			case len(lit) == 13 && c != '-':
				shape = wire.ShapeEpochMillis
			default:
				shape = wire.ShapeInteger
			}
		} else {
			s = canonicalNumber(lit, d.canon[:0])
			d.canon = s[:0]
		}
		h = d.keys[tagNumber].Sum64(s)
		if slot >= 0 {
			record(&d.fields[slot], wire.TypeNumber, shape, 0, h, h, 0)
			if p := d.paths.nodes[node].raw; p != nil && d.fields[slot].Raw == nil {
				d.setRaw(slot, p, s)
			}
		}
	default:
		var typ wire.JSONType
		var shape wire.Shape
		var tag, n int
		switch {
		case c == 'n' && hasPrefix(src[pos:], "null"):
			typ, shape, tag, n = wire.TypeNull, wire.ShapeNull, tagNull, 4
		case c == 't' && hasPrefix(src[pos:], "true"):
			typ, shape, tag, n = wire.TypeBool, wire.ShapeTrue, tagTrue, 4
		case c == 'f' && hasPrefix(src[pos:], "false"):
			typ, shape, tag, n = wire.TypeBool, wire.ShapeFalse, tagFalse, 5
		default:
			return syntaxErr(pos, "unexpected character %q", c)
		}
		pos += n
		h = d.litHash[tag]
		if slot >= 0 {
			record(&d.fields[slot], typ, shape, 0, h, h, 0)
			if p := d.paths.nodes[node].raw; p != nil && d.fields[slot].Raw == nil {
				d.setRaw(slot, p, src[pos-n:pos])
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
	pos = skipSpace(src, pos)
	if top.array {
		top.sum = mix(top.sum, h)
		top.unordered += mix(h, 0)
		if pos >= len(src) {
			return syntaxErr(pos, "unexpected end of input in an array")
		}
		switch src[pos] {
		case ',':
			pos = skipSpace(src, pos+1)
			goto element
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
		pos = skipSpace(src, pos+1)
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
		pos = skipSpace(src, pos)
		if pos >= len(src) || src[pos] != ':' {
			return syntaxErr(pos, "expected ':' after a member name")
		}
		pos++
		node, slot = -1, -1
		if top.node >= 0 {
			node, slot = d.member(top.node, s, kh)
		}
	}
	goto value

	// At pos (after any space) an element is due.
element:
	if top.elemNode == -2 {
		top.elemNode, top.elemSlot = -1, -1
		if top.node >= 0 {
			top.elemNode, top.elemSlot = d.element(top.node)
		}
	}
	node, slot = top.elemNode, top.elemSlot
	goto value

closeObject:
	h = mix(mix(tagObject, top.sum), uint64(top.n))
	if top.slot >= 0 {
		record(&d.fields[top.slot], wire.TypeObject, wire.ShapeUnspecified, 0, h, h, 0)
		d.containerRaw(top, src, pos)
	}
	depth--
	goto done

closeArray:
	h = mix(top.sum, uint64(top.n))
	if top.slot >= 0 {
		record(&d.fields[top.slot], wire.TypeArray, wire.ShapeUnspecified, LengthBucket(top.n), h, mix(top.unordered, uint64(top.n)), uint32(top.n))
		d.containerRaw(top, src, pos)
	}
	depth--
	goto done
}

// containerRaw records the source text of a closed container as its raw
// value when its path allows one.
func (d *jsonDigester) containerRaw(top *frame, src []byte, end int) {
	if p := d.paths.nodes[top.node].raw; p != nil && d.fields[top.slot].Raw == nil {
		d.setRaw(top.slot, p, src[top.start:min(end, top.start+maxRaw)])
	}
}
