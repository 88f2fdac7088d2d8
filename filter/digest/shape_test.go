package digest

import (
	"testing"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

func TestStringShape(t *testing.T) {
	for in, want := range map[string]wire.Shape{
		"":                                     wire.ShapeEmpty,
		"2026-11-26T11:41:52Z":                 wire.ShapeTimestamp,
		"2026-11-26T11:41:52.123456789+01:00":  wire.ShapeTimestamp,
		"2026-11-26 11:41":                     wire.ShapeTimestamp,
		"Sun, 06 Nov 1994 08:49:37 GMT":        wire.ShapeTimestamp,
		"2026-11-26":                           wire.ShapeDate,
		"2026-11-26 is a date":                 wire.ShapeText,
		"123e4567-e89b-12d3-a456-426614174000": wire.ShapeUUID,
		"12.50":                                wire.ShapeNumeric,
		"-7":                                   wire.ShapeNumeric,
		"deadbeef01":                           wire.ShapeHex,
		"cafe":                                 wire.ShapeText,
		"https://example.com/a":                wire.ShapeURL,
		"ops@example.com":                      wire.ShapeEmail,
		"eyJhbGciOiJIUzI1NiJ9abc":              wire.ShapeBase64,
		"supercalifragilistic":                 wire.ShapeText,
		"gold":                                 wire.ShapeText,
		".":                                    wire.ShapeText,
	} {
		if got := StringShape([]byte(in)); got != want {
			t.Errorf("StringShape(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestNumberShape(t *testing.T) {
	for in, want := range map[string]wire.Shape{
		"42":                       wire.ShapeInteger,
		"-3":                       wire.ShapeInteger,
		"1.5":                      wire.ShapeDecimal,
		"1e3":                      wire.ShapeDecimal,
		"1764157312":               wire.ShapeEpochSeconds,
		"1764157312123":            wire.ShapeEpochMillis,
		"123456789012345678901234": wire.ShapeInteger,
	} {
		if got := NumberShape([]byte(in)); got != want {
			t.Errorf("NumberShape(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestLengthBucket(t *testing.T) {
	for n, want := range map[int]uint32{0: 0, 1: 1, 2: 2, 3: 2, 4: 3, 1023: 10, 1024: 11} {
		if got := LengthBucket(n); got != want {
			t.Errorf("LengthBucket(%d) = %d, want %d", n, got, want)
		}
	}
}

// FuzzStringShape checks StringShape against the reference classifier.
func FuzzStringShape(f *testing.F) {
	for _, s := range []string{"", "2026-11-26T11:41:52Z", "Sun, 06 Nov 1994 08:49:37 GMT", "123e4567-e89b-12d3-a456-426614174000",
		"12.50", "deadbeef01", "https://example.com/a", "ops@example.com", "a@b@c.d", "eyJhbGciOiJIUzI1NiJ9abc", "gold", "+", "@"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		if got, want := StringShape(s), refStringShape(s); got != want {
			t.Fatalf("StringShape(%q) = %v, want %v", s, got, want)
		}
	})
}
