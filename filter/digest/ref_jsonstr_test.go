package digest

// The digest implementation as it was before BodyDigester (commit 26bfdae4176f),
// kept verbatim (identifiers prefixed with ref) as the reference the current
// code must match byte for byte, but for the changes noted where they were
// made (refCanonicalNumber, refAppendEscapedKey). This file: strings,
// numbers, keys.

import (
	"bytes"
	"fmt"
	"math/big"
	"strconv"
	"strings"
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

// refCanonicalNumber gives equal numbers one spelling. Changed on 27 Nov
// 2026 with canonicalNumber: it was computed through float64 for exponent
// forms ("1e-05" but "0.00001", 1e400 and 2e400 both "+Inf"). Now, exactly
// from the literal: the value is written D * 10^q with D the significant
// digits (no leading or trailing zeros); plain decimal notation when that
// needs at most 20 zeros besides D's digits, else d.ddd, 'e', the sign and
// at least two digits of the exponent; zero, whatever its sign, is "0".
// Written independently of canonicalNumber: strings and math/big.
func refCanonicalNumber(lit, buf []byte) []byte {
	const plain = 20
	s := string(lit)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	q := new(big.Int)
	if hasExp {
		if _, ok := q.SetString(strings.TrimPrefix(exp, "+"), 10); !ok {
			panic("bad exponent in " + string(lit))
		}
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	q.Sub(q, big.NewInt(int64(len(frac))))
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return append(buf, '0')
	}
	trimmed := strings.TrimRight(digits, "0")
	q.Add(q, big.NewInt(int64(len(digits)-len(trimmed))))
	digits = trimmed
	n := big.NewInt(int64(len(digits)))
	// value = digits * 10^q; the point goes after p = n+q digits.
	p := new(big.Int).Add(n, q)
	var out string
	switch {
	case q.Sign() >= 0 && q.Cmp(big.NewInt(plain)) <= 0:
		out = digits + strings.Repeat("0", int(q.Int64()))
	case p.Sign() > 0 && q.Sign() < 0:
		k := int(p.Int64())
		out = digits[:k] + "." + digits[k:]
	case p.Sign() <= 0 && p.Cmp(big.NewInt(-plain)) >= 0:
		out = "0." + strings.Repeat("0", int(-p.Int64())) + digits
	default:
		out = digits[:1]
		if len(digits) > 1 {
			out += "." + digits[1:]
		}
		x := new(big.Int).Sub(p, big.NewInt(1))
		es := "+"
		if x.Sign() < 0 {
			es = "-"
		}
		xs := new(big.Int).Abs(x).String()
		if len(xs) < 2 {
			xs = "0" + xs
		}
		out += "e" + es + xs
	}
	return append(buf, sign+out...)
}

// refAppendEscapedKey escapes the path metacharacters '.', '[', ']' and '\'.
// An empty key is written `""` so it cannot be confused with its parent.
// Changed on 27 Nov 2026 with appendEscapedKey, the one change to the
// reference: a byte that is not part of valid UTF-8 is written `\xNN`, and
// '"' is escaped (a member named `""` had the empty member's path); and
// an ASCII control character is written `\xNN` too (the collector refuses
// them in paths).
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
		if c < 0x20 || c == 0x7f {
			b = fmt.Appendf(b, "\\x%02X", c)
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
