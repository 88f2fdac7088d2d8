package digest

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// numberField digests {"a":lit} and returns the field of a, its raw value
// (the canonical form the parser hashed) included.
func numberField(t *testing.T, lit string) wire.FieldEntry {
	t.Helper()
	f := mustDigest(t, `{"a":`+lit+`}`, &JSONOptions{Key: testKey, Raw: func(p string) bool { return p == "a" }})["a"]
	if f.Type != wire.TypeNumber || f.Raw == nil {
		t.Fatalf("%s: field %+v", lit, f)
	}
	return f
}

// TestNumberSpellings: every spelling of one value has one canonical form
// and one hash, whatever its notation or magnitude; different values,
// however close or large, differ.
func TestNumberSpellings(t *testing.T) {
	groups := []struct {
		canon     string
		spellings []string
	}{
		{"1", []string{"1", "1.0", "1e0", "10e-1", "0.1e1", "100e-2", "1.000", "1E0", "1e+0", "1E-0", "0.01e+2", "1e00"}},
		{"0", []string{"0", "-0", "0.0", "-0.0", "0e10", "-0E-999", "0.000e1", "0e99999999999999999999999"}},
		{"0.00001", []string{"0.00001", "1e-5", "1E-5", "0.1e-4", "10e-6", "0.0000100", "1e-05", "0.00001e0"}},
		{"0.0000001", []string{"0.0000001", "1e-7", "1E-07", "1.0e-7", "100e-9"}},
		{"-0.0025", []string{"-0.0025", "-2.5E-3", "-2.50e-3", "-25e-4"}},
		{"100", []string{"100", "1e2", "1E+2", "100.0", "0.1e3", "10000e-2"}},
		{"123456789012345678", []string{"123456789012345678", "1.23456789012345678e17", "123456789012345678.000", "12345678901234567800e-2"}},
		{"12345678901234567890.123456789", []string{"12345678901234567890.123456789", "1.2345678901234567890123456789e19",
			"12345678901234567890123456789e-9", "0.12345678901234567890123456789000e20"}},
		{"1234567.5", []string{"1234567.5", "1.2345675e6", "12345675e-1"}},
		{"100000000000000000000", []string{"100000000000000000000", "1e20", "100000000000000000000.0"}},
		{"1e+21", []string{"1e21", "1000000000000000000000", "10e20", "1000000000000000000000.00", "1E+21"}},
		{"0.000000000000000000001", []string{"1e-21", "0.000000000000000000001", "10e-22"}},
		{"1e-22", []string{"1e-22", "0.0000000000000000000001", "0.00000000000000000000010"}},
		{"1e+400", []string{"1e400", "10e399", "0.1e401", "1E+400", "1.0e400"}},
		{"-1e+400", []string{"-1e400", "-10e399"}},
		{"1e-400", []string{"1e-400", "0.1e-399", "10e-401"}},
		{"602214076000000000000000", []string{"6.02214076e23", "602214076e15", "602214076000000000000000"}},
		{"6.02214076e+29", []string{"6.02214076e29", "602214076e21", "602214076000000000000000000000"}},
		{"1e+99999999999999999999", []string{"1e99999999999999999999", "10e99999999999999999998", "0.001e100000000000000000002"}},
		{"1e+1000000000000000000002", []string{"1000e999999999999999999999", "1e1000000000000000000002"}},
		{"1e+999999999999999999998", []string{"0.001e1000000000000000000001", "1e999999999999999999998"}},
		{"-1.5e-1000000000000000000001", []string{"-0.015e-999999999999999999999", "-15e-1000000000000000000002"}},
	}
	hashes := map[uint64]string{}
	for _, g := range groups {
		var want uint64
		for i, lit := range g.spellings {
			if got := string(canonicalNumber([]byte(lit), nil)); got != g.canon {
				t.Errorf("canonicalNumber(%s) = %s, want %s", lit, got, g.canon)
			}
			if got := string(refCanonicalNumber([]byte(lit), nil)); got != g.canon {
				t.Errorf("refCanonicalNumber(%s) = %s, want %s", lit, got, g.canon)
			}
			f := numberField(t, lit)
			if *f.Raw != g.canon {
				t.Errorf("%s digested as %s, want %s", lit, *f.Raw, g.canon)
			}
			if i == 0 {
				want = f.ValueHash
				if other, ok := hashes[want]; ok {
					t.Errorf("%s and %s hash alike", g.canon, other)
				}
				hashes[want] = g.canon
			} else if f.ValueHash != want {
				t.Errorf("%s and %s: hashes differ for equal values", lit, g.spellings[0])
			}
		}
	}
	for _, pair := range [][2]string{
		{"1e400", "2e400"}, {"1e400", "1e401"}, {"-1e400", "1e400"}, {"1e-400", "0"}, {"1e-400", "1e-401"},
		{"1e99999999999999999999", "1e99999999999999999998"}, {"0.00001", "0.000010000000000000000001"},
		{"12345678901234567890.123456789", "12345678901234567890.12345679"}, {"123456789012345678", "123456789012345680"},
		{"9007199254740993", "9007199254740992"}, {"1.00000000000000001", "1"}, {"1e21", "1e20"}, {"1e-21", "1e-22"},
	} {
		if a, b := numberField(t, pair[0]), numberField(t, pair[1]); a.ValueHash == b.ValueHash {
			t.Errorf("%s and %s hash alike (%s, %s)", pair[0], pair[1], *a.Raw, *b.Raw)
		}
	}
}

// TestNumberShapes: the shape still follows the literal (1 is an integer,
// 1.0 and 1e0 decimals, as before), not the canonical value.
func TestNumberShapes(t *testing.T) {
	for lit, want := range map[string]wire.Shape{
		"1": wire.ShapeInteger, "-0": wire.ShapeInteger, "1.0": wire.ShapeDecimal, "1e0": wire.ShapeDecimal,
		"1764151200": wire.ShapeEpochSeconds, "1764151200123": wire.ShapeEpochMillis, "1.76415120e9": wire.ShapeDecimal,
		"1000000000000000000000": wire.ShapeInteger, "0.0000000000000000000001": wire.ShapeDecimal, "1e400": wire.ShapeDecimal,
	} {
		if got := numberField(t, lit).Shape; got != want {
			t.Errorf("%s: shape %v, want %v", lit, got, want)
		}
	}
}

// oldCanonicalNumber is canonicalNumber before 27 Nov 2026 (exponent forms
// through float64), kept to pin down which literals changed their
// canonical form.
func oldCanonicalNumber(lit []byte) string {
	s := string(lit)
	if !strings.ContainsAny(s, ".eE") {
		if s == "-0" {
			return "0"
		}
		return s
	}
	if !strings.ContainsAny(s, "eE") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
		if s == "-0" {
			s = "0"
		}
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return s
	}
	if f == 0 {
		return "0"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

var numberLiteral = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// FuzzCanonicalNumber checks canonicalNumber against the reference, and
// against the float-based form it replaced: the canonical form changed
// only for
//   - literals without an exponent whose value needs more than plainZeros
//     zeros besides its significant digits (>= 1e21 with 21 trailing
//     zeros, or below 1e-21), now in exponent form;
//   - literals with an exponent where the two disagree on the notation
//     (now plain: non-integers from 1e6 up, integers from 1e21 up with at
//     most 20 trailing zeros, values from 1e-21 below 1e-4) or where
//     float64 lost digits or range (more than 15 significant digits,
//     beyond about 1e±300).
func FuzzCanonicalNumber(f *testing.F) {
	f.Add(false, "1", "", "", false, "")
	f.Add(true, "0", "0000001", "", true, "-7")
	f.Add(false, "1", "5", "", true, "300")
	f.Add(false, "1", "", "000000000000000000000", false, "")
	f.Add(false, "0", "0000000000000000000001", "", false, "")
	f.Add(false, "12345", "6789", "00", true, "+99999999999999999999")
	f.Fuzz(func(t *testing.T, neg bool, intPart, frac, zeros string, hasExp bool, exp string) {
		lit := intPart + zeros
		if frac != "" {
			lit += "." + frac + zeros
		}
		if neg {
			lit = "-" + lit
		}
		if hasExp {
			lit += "e" + exp
		}
		if len(lit) > 200 || !numberLiteral.MatchString(lit) {
			return
		}
		got := string(canonicalNumber([]byte(lit), nil))
		if want := string(refCanonicalNumber([]byte(lit), nil)); got != want {
			t.Fatalf("canonicalNumber(%s) = %s, reference %s", lit, got, want)
		}
		if again := string(canonicalNumber([]byte(got), nil)); again != got {
			t.Fatalf("canonicalNumber(%s) = %s, but canonicalNumber(%s) = %s", lit, got, got, again)
		}
		if f := numberField(t, lit); *f.Raw != got {
			t.Fatalf("%s digested as %s, canonicalNumber %s", lit, *f.Raw, got)
		}
		old := oldCanonicalNumber([]byte(lit))
		// Recompute the value's significant digits D and the exponent X
		// of the first of them (value 0.D*10^(X+1)) to predict old == got.
		m := numberLiteral.FindStringSubmatch(lit)
		digits := m[1] + strings.TrimPrefix(m[2], ".")
		d := strings.TrimLeft(digits, "0")
		if d == "" {
			if got != "0" || old != "0" {
				t.Fatalf("%s: zero is %s (old %s)", lit, got, old)
			}
			return
		}
		x := len(m[1]) - (len(digits) - len(d)) - 1 // without the exponent
		d = strings.TrimRight(d, "0")
		q := x + 1 - len(d)
		if m[3] == "" { // no exponent (the fuzzer may put one in intPart)
			padding := max(q, -(x + 1), 0)
			if (old == got) != (padding <= plainZeros) {
				t.Fatalf("%s: canonical %s, old %s (padding %d)", lit, got, old, padding)
			}
			return
		}
		e, err := strconv.Atoi(strings.TrimPrefix(m[3][1:], "+"))
		if err != nil || len(d) > 15 || x+e < -300 || x+e > 300 {
			return // float64 may have lost digits or range
		}
		x, q = x+e, q+e
		oldPlain := q >= 0 && x < 21 || -4 <= x && x < 6
		newPlain := q >= 0 && q <= plainZeros || q < 0 && x >= 0 || x < 0 && -x-1 <= plainZeros
		if (old == got) != (oldPlain == newPlain) {
			t.Fatalf("%s: canonical %s, old %s (notation old plain %v, new plain %v)", lit, got, old, oldPlain, newPlain)
		}
	})
}
