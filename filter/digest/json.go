package digest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
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
	d := newJSONDigester(opts, oneShotHashCacheSize, 32)
	if err := d.digest(src); err != nil {
		return JSONDigest{}, err
	}
	return JSONDigest{Fields: d.fields, FieldsTruncated: d.truncated}, nil
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

// appendEscapedKey writes a member name into a path: the path
// metacharacters '.', '[', ']', '\' and '"' escaped with '\', and a byte
// that is not part of valid UTF-8 as \xNN (wire.AppendEscaped): paths are
// protobuf strings, which must be UTF-8, and two member names that differ
// only in such bytes (Latin-1 text) keep two paths. An empty key is written
// `""` so it cannot be confused with its parent (and, quotes escaped, with a
// member named `""`).
func appendEscapedKey(b, key []byte) []byte {
	if len(key) == 0 {
		return append(b, `""`...)
	}
	return wire.AppendEscaped(b, key, pathMeta)
}

// pathMeta are the bytes escaped in a path's member names.
const pathMeta = `.[]\"`

// truncateUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncateUTF8[T string | []byte](s T, n int) T {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// FNV1a is the unkeyed 64-bit FNV-1a hash, for what needs no secret:
// member names (they travel in clear in paths) and sampling decisions.
// Unlike hash/fnv it takes a string or bytes without allocating.
func FNV1a[T string | []byte](b T) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= fnvPrime
	}
	return h
}

const (
	fnvOffset = 0xcbf29ce484222325
	fnvPrime  = 0x100000001b3
)
