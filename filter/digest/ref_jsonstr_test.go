package digest

// The digest implementation as it was before BodyDigester (commit 26bfdae4176f),
// kept verbatim (identifiers prefixed with ref) as the reference the current
// code must match byte for byte. This file: strings, numbers, keys.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

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
				// Fixed after the copy (as in jsonstr.go): only a valid pair
				// takes the next \u escape.
				r2, save := rune(-1), d.pos
				if refHasPrefix(d.src[d.pos:], `\u`) {
					d.pos += 2
					if v, ok := d.hex4(); ok {
						r2 = v
					}
				}
				if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
					r = pair
				} else {
					r, d.pos = utf8.RuneError, save
				}
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
// Changed on 27 Nov 2026 with appendEscapedKey, the one change to the
// reference: a byte that is not part of valid UTF-8 is written `\xNN`, and
// '"' is escaped (a member named `""` had the empty member's path).
func refAppendEscapedKey(b, key []byte) []byte {
	if len(key) == 0 {
		return append(b, `""`...)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= utf8.RuneSelf {
			if r, n := utf8.DecodeRune(key[i:]); r == utf8.RuneError && n == 1 {
				b = fmt.Appendf(b, "\\x%02X", c)
			} else {
				b = append(b, key[i:i+n]...)
				i += n - 1
			}
			continue
		}
		switch c {
		case '.', '[', ']', '\\', '"':
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
