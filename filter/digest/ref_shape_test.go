package digest

// The digest implementation as it was before BodyDigester (commit 26bfdae4176f),
// kept verbatim (identifiers prefixed with ref) as the reference the current
// code must match byte for byte. This file: string and number shapes.

import (
	"strconv"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

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
