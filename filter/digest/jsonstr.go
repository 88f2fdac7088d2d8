package digest

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Byte classes, one table load per byte.
const (
	cSpecial = 1 << iota // ends the plain run of a string literal: '"', '\\' or a control character
	cNotNum              // not [0-9.+-]: a string starting with it is not NUMERIC
	cSpace               // JSON whitespace
)

var byteClass = func() (t [256]uint8) {
	for i := range t {
		c := byte(i)
		if c == '"' || c == '\\' || c < 0x20 {
			t[i] |= cSpecial
		}
		if !isDigit(c) && c != '.' && c != '+' && c != '-' {
			t[i] |= cNotNum
		}
		if c == ' ' || c == '\n' || c == '\r' || c == '\t' {
			t[i] |= cSpace
		}
	}
	return t
}()

// classOf ORs the byte classes of s.
func classOf(s []byte) uint8 {
	var f uint8
	for _, c := range s {
		f |= byteClass[c]
	}
	return f
}

func isSpace(c byte) bool { return byteClass[c]&cSpace != 0 }

// ws skips JSON whitespace at pos. Compact documents have none: the
// loop is behind a call, which the compiler lays out as the unlikely path.
func ws(src []byte, pos int) int {
	if pos < len(src) && byteClass[src[pos]]&cSpace != 0 {
		return skipSpace(src, pos)
	}
	return pos
}

//go:noinline
func skipSpace(src []byte, pos int) int {
	for pos < len(src) && isSpace(src[pos]) {
		pos++
	}
	return pos
}

//go:noinline
func syntaxErr(pos int, format string, args ...any) error {
	return &SyntaxError{Offset: pos, Msg: fmt.Sprintf(format, args...)}
}

// strSlow finishes a string literal whose contents start at start, after
// the plain run ended at pos on a byte of class cSpecial (or at the end of
// src) that is not the closing quote. It returns the unescaped contents,
// valid until the next call, and the offset after the closing quote.
func (d *jsonDigester) strSlow(src []byte, start, pos int) ([]byte, int, error) {
	if pos >= len(src) {
		return nil, pos, syntaxErr(pos, "unterminated string")
	}
	if src[pos] != '\\' {
		return nil, pos, syntaxErr(pos, "control character in a string")
	}
	out := append(d.scratch[:0], src[start:pos]...)
	for pos < len(src) {
		c := src[pos]
		switch {
		case c == '"':
			d.scratch = out[:0]
			return out, pos + 1, nil
		case c < 0x20:
			return nil, pos, syntaxErr(pos, "control character in a string")
		case c != '\\':
			out = append(out, c)
			pos++
			continue
		}
		if pos+1 >= len(src) {
			break
		}
		e := src[pos+1]
		pos += 2
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
			r, ok := hex4(src, pos)
			if !ok {
				return nil, pos, syntaxErr(pos, "bad \\u escape")
			}
			pos += 4
			if utf16.IsSurrogate(r) {
				// A pair takes the next \u escape; anything else makes this
				// one U+FFFD and is read on its own, as encoding/json does.
				r2 := rune(-1)
				if hasPrefix(src[pos:], `\u`) {
					if v, ok := hex4(src, pos+2); ok {
						r2 = v
					}
				}
				if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
					r = pair
					pos += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, pos, syntaxErr(pos, "bad escape \\%c", e)
		}
	}
	d.scratch = out[:0]
	return nil, pos, syntaxErr(pos, "unterminated string")
}

// hex4 reads the four hex digits of a \u escape at pos.
func hex4(src []byte, pos int) (rune, bool) {
	if pos+4 > len(src) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(src[pos:pos+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}

// Kinds of value by their first byte.
const (
	kOther = iota
	kString
	kContainer
	kNumber
)

var valueKind = func() (t [256]uint8) {
	t['"'] = kString
	t['{'], t['['] = kContainer, kContainer
	t['-'] = kNumber
	for c := '0'; c <= '9'; c++ {
		t[c] = kNumber
	}
	return t
}()

// shortText reports that s is TEXT without classifying it fully: it is
// shorter than any shape but NUMERIC and EMAIL, does not start like a
// number and holds no '@'.
func shortText(s []byte) bool {
	n := len(s)
	return n > 0 && n < 7 && byteClass[s[0]]&cNotNum != 0 && cap(s) >= 8 &&
		!hasAt(binary.LittleEndian.Uint64(s[:8])&(1<<(8*n)-1))
}
