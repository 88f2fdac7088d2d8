package digest

import (
	"encoding/binary"
	"math/bits"
	"strconv"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// StringShape classifies a string value so a field that is noise by value
// (a timestamp, a random id) can still be compared by what it looks like.
// It never allocates.
func StringShape(s []byte) wire.Shape {
	n := len(s)
	switch {
	case n == 0:
		return wire.ShapeEmpty
	case n == 36 && isUUID(s):
		return wire.ShapeUUID
	case n >= 10 && isDate(s):
		if n == 10 {
			return wire.ShapeDate
		}
		if isTimestampTail(s[10:]) {
			return wire.ShapeTimestamp
		}
	case n == 29 && isHTTPDate(s):
		return wire.ShapeTimestamp
	}
	// Each test but isEmail stops at the first byte that rules it out;
	// isEmail runs only on strings holding an '@'.
	switch {
	case isNumeric(s):
		return wire.ShapeNumeric
	case n >= 8 && allHex(s):
		return wire.ShapeHex
	case n >= 7 && (hasPrefix(s, "http://") || hasPrefix(s, "https://")):
		return wire.ShapeURL
	case containsAt(s) && isEmail(s):
		return wire.ShapeEmail
	case n >= 16 && isBase64Token(s):
		return wire.ShapeBase64
	}
	return wire.ShapeText
}

// containsAt reports whether s holds an '@', a word at a time.
func containsAt(s []byte) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if hasAt(binary.LittleEndian.Uint64(s[i:])) {
			return true
		}
	}
	return i < len(s) && hasAt(word(s[i:]))
}

// NumberShape classifies a JSON number literal.
func NumberShape(lit []byte) wire.Shape {
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

// LengthBucket is floor(log2(n))+1, 0 for 0: lengths within a factor of two
// share a bucket.
func LengthBucket(n int) uint32 { return uint32(bits.Len(uint(n))) }

func hasPrefix(s []byte, p string) bool { return len(s) >= len(p) && string(s[:len(p)]) == p }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigit(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func allHex(s []byte) bool {
	for _, c := range s {
		if !isHexDigit(c) {
			return false
		}
	}
	return true
}

func digits(s []byte) bool {
	for _, c := range s {
		if !isDigit(c) {
			return false
		}
	}
	return len(s) > 0
}

// isUUID: 8-4-4-4-12 hex digits.
func isUUID(s []byte) bool {
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
			if !isHexDigit(c) {
				return false
			}
		}
	}
	return true
}

// isDate: YYYY-MM-DD at the start of s.
func isDate(s []byte) bool {
	return len(s) >= 10 && digits(s[0:4]) && s[4] == '-' && digits(s[5:7]) && s[7] == '-' && digits(s[8:10])
}

// isTimestampTail: the "THH:MM[:SS[.frac]][Z|±HH:MM]" after a date.
func isTimestampTail(s []byte) bool {
	if len(s) < 6 || (s[0] != 'T' && s[0] != 't' && s[0] != ' ') || !digits(s[1:3]) || s[3] != ':' || !digits(s[4:6]) {
		return false
	}
	s = s[6:]
	if len(s) >= 3 && s[0] == ':' && digits(s[1:3]) {
		s = s[3:]
		if len(s) > 0 && (s[0] == '.' || s[0] == ',') {
			i := 1
			for i < len(s) && isDigit(s[i]) {
				i++
			}
			s = s[i:]
		}
	}
	switch {
	case len(s) == 0, len(s) == 1 && (s[0] == 'Z' || s[0] == 'z'):
		return true
	case len(s) == 6 && (s[0] == '+' || s[0] == '-') && digits(s[1:3]) && s[3] == ':' && digits(s[4:6]):
		return true
	case len(s) == 5 && (s[0] == '+' || s[0] == '-') && digits(s[1:5]):
		return true
	}
	return false
}

// isHTTPDate: IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT".
func isHTTPDate(s []byte) bool {
	return len(s) == 29 && s[3] == ',' && s[4] == ' ' && digits(s[5:7]) && digits(s[12:16]) &&
		s[19] == ':' && s[22] == ':' && string(s[26:]) == "GMT"
}

func isNumeric(s []byte) bool {
	i := 0
	if s[0] == '-' || s[0] == '+' {
		i++
	}
	seenDigit, seenDot := false, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			seenDigit = true
		case c == '.' && !seenDot:
			seenDot = true
		default:
			return false
		}
	}
	return seenDigit
}

func isEmail(s []byte) bool {
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

// isBase64Token: base64 or base64url alphabet with optional padding, and
// both letters and digits (so long words are TEXT, not tokens).
func isBase64Token(s []byte) bool {
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
		case isDigit(c):
			nums = true
		case c == '+' || c == '/' || c == '-' || c == '_':
		default:
			return false
		}
	}
	return letters && nums
}
