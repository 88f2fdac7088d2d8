package config

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The plugin configuration is read with this small JSON reader instead of
// encoding/json: encoding/json, with the reflection it keeps alive in the
// linker, was 566 KB of the 4.19 MB filter.wasm, which every Envoy worker
// compiles. It reads what RFC 8259 allows, as encoding/json does
// (TestJSONMatchesEncodingJSON and FuzzJSON compare the two), but nests
// at most maxJSONDepth deep (encoding/json: 10,000).

// maxJSONDepth bounds nesting, as encoding/json does (10,000 there; a
// plugin config needs a handful).
const maxJSONDepth = 1000

// checkJSON returns an error unless data is exactly one JSON value,
// surrounded by whitespace at most.
func checkJSON(data []byte) error {
	end, err := skipValue(data, skipSpace(data, 0), 0)
	if err != nil {
		return err
	}
	if end = skipSpace(data, end); end != len(data) {
		return syntaxError(data, end, "after the top-level value")
	}
	return nil
}

func syntaxError(data []byte, at int, what string) error {
	if at >= len(data) {
		return fmt.Errorf("unexpected end of JSON input %s", what)
	}
	return fmt.Errorf("invalid character %s %s (byte %d)", quoteChar(data[at]), what, at)
}

// quoteChar names a byte as encoding/json's errors do.
func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value that starts at data[i].
func skipValue(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return i, syntaxError(data, i, "looking for a value")
	}
	switch c := data[i]; {
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return i, fmt.Errorf("JSON nested deeper than %d (byte %d)", maxJSONDepth, i)
		}
		return skipContainer(data, i, depth+1)
	case c == '"':
		return skipString(data, i)
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(data, i)
	}
	for _, lit := range []string{"true", "false", "null"} {
		if len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit {
			return i + len(lit), nil
		}
	}
	return i, syntaxError(data, i, "looking for a value")
}

// skipContainer skips an object or an array starting at data[i].
func skipContainer(data []byte, i, depth int) (int, error) {
	object, closing := data[i] == '{', byte(']')
	if object {
		closing = '}'
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == closing {
		return i + 1, nil
	}
	for {
		var err error
		if object {
			if i >= len(data) || data[i] != '"' {
				return i, syntaxError(data, i, "looking for an object key")
			}
			if i, err = skipString(data, i); err != nil {
				return i, err
			}
			if i = skipSpace(data, i); i >= len(data) || data[i] != ':' {
				return i, syntaxError(data, i, "after an object key")
			}
			i = skipSpace(data, i+1)
		}
		if i, err = skipValue(data, i, depth); err != nil {
			return i, err
		}
		switch i = skipSpace(data, i); {
		case i < len(data) && data[i] == closing:
			return i + 1, nil
		case i < len(data) && data[i] == ',':
			i = skipSpace(data, i+1)
		default:
			return i, syntaxError(data, i, "after a value")
		}
	}
}

// skipString skips the string starting at data[i] (a quote).
func skipString(data []byte, i int) (int, error) {
	for i++; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1, nil
		case c < 0x20:
			return i, syntaxError(data, i, "in a string")
		case c == '\\':
			i++
			if i >= len(data) {
				return i, syntaxError(data, i, "in a string escape")
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for k := 1; k <= 4; k++ {
					if i+k >= len(data) || !isHex(data[i+k]) {
						return i + k, syntaxError(data, i+k, "in a \\u escape")
					}
				}
				i += 4
			default:
				return i, syntaxError(data, i, "in a string escape")
			}
		}
	}
	return i, syntaxError(data, i, "in a string")
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// skipNumber skips the number starting at data[i]: -?int frac? exp?.
func skipNumber(data []byte, i int) (int, error) {
	digits := func(i int) (int, bool) {
		start := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		return i, i > start
	}
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	default:
		var ok bool
		if i, ok = digits(i); !ok {
			return i, syntaxError(data, i, "in a number")
		}
	}
	if i < len(data) && data[i] == '.' {
		var ok bool
		if i, ok = digits(i + 1); !ok {
			return i, syntaxError(data, i, "after a decimal point in a number")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		var ok bool
		if i, ok = digits(i); !ok {
			return i, syntaxError(data, i, "in a number's exponent")
		}
	}
	return i, nil
}

// The readers below take a value checkJSON passed (as part of the whole
// document); they still refuse what they were not meant for.

var errNotJSON = errors.New("not a valid JSON value of the kind wanted")

// jsonMember is an object member: its key, unquoted, and its value.
type jsonMember struct {
	name  string
	value []byte
}

// objectMembers returns the members of a JSON object, in order.
func objectMembers(data []byte) ([]jsonMember, error) {
	if len(data) == 0 || data[0] != '{' {
		return nil, errNotJSON
	}
	var members []jsonMember
	err := eachItem(data, func(key, value []byte) error {
		name, err := unquote(key)
		members = append(members, jsonMember{name, value})
		return err
	})
	return members, err
}

// arrayItems returns the items of a JSON array.
func arrayItems(data []byte) ([][]byte, error) {
	if len(data) == 0 || data[0] != '[' {
		return nil, errNotJSON
	}
	var items [][]byte
	err := eachItem(data, func(_, value []byte) error {
		items = append(items, value)
		return nil
	})
	return items, err
}

// eachItem calls fn with each member (key and value) of an object or
// item (value only) of an array.
func eachItem(data []byte, fn func(key, value []byte) error) error {
	object := data[0] == '{'
	i := skipSpace(data, 1)
	if i < len(data) && (data[i] == '}' || data[i] == ']') {
		return nil
	}
	for i < len(data) {
		var key []byte
		if object {
			end, err := skipString(data, i)
			if err != nil {
				return err
			}
			key = data[i:end]
			i = skipSpace(data, skipSpace(data, end)+1) // past the colon
		}
		end, err := skipValue(data, i, 0)
		if err != nil {
			return err
		}
		if err := fn(key, data[i:end]); err != nil {
			return err
		}
		i = skipSpace(data, end)
		if i < len(data) && data[i] != ',' {
			return nil // the closing bracket
		}
		i = skipSpace(data, i+1)
	}
	return errNotJSON
}

// unquote returns the text of a JSON string. As encoding/json, it
// replaces invalid UTF-8 and unpaired surrogates with U+FFFD.
func unquote(data []byte) (string, error) {
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return "", errNotJSON
	}
	data = data[1 : len(data)-1]
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == '\\' && i+1 < len(data):
			esc := data[i+1]
			i += 2
			switch esc {
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
				r, ok := hex4(data, i)
				if !ok {
					return "", errNotJSON
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2, ok := rune(0), false
					if i+6 <= len(data) && data[i] == '\\' && data[i+1] == 'u' {
						r2, ok = hex4(data, i+2)
					}
					if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default: // '"', '\\', '/'
				out = append(out, esc)
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			out = utf8.AppendRune(out, r) // RuneError for a bad byte
			i += size
		}
	}
	return string(out), nil
}

// hex4 reads the four hex digits of a \u escape at data[i:].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(data[i:i+4]), 16, 16)
	return rune(v), err == nil
}
