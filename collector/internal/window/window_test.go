package window

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90m": 90 * time.Minute, "6h": 6 * time.Hour, "1h30m": 90 * time.Minute,
		"7d": 7 * 24 * time.Hour, "1d": 24 * time.Hour, "36500d": 36500 * 24 * time.Hour,
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"soon": "not a duration", "d": "not a duration", "1.5d": "not a duration", "-1d": "not a duration",
		"7": "not a duration", "0": ErrRange.Error(), "-1h": ErrRange.Error(), "0d": ErrRange.Error(),
		"36600d": ErrRange.Error(),
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) || (want == ErrRange.Error()) != errors.Is(err, ErrRange) {
			t.Errorf("Parse(%q) error %v, want %q", in, err, want)
		}
	}
}
