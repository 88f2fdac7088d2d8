// Package window parses relative time windows ("the last 7 days") as the
// console's window= parameter and the CLI's --since take them, so both
// accept the same spellings.
package window

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Max bounds a window, so that now minus it never underflows.
const Max = 100 * 365 * 24 * time.Hour

// ErrRange is wrapped by Parse's error for a window that is not positive
// or is longer than Max.
var ErrRange = errors.New("must be positive and at most 100 years")

// Parse reads a Go duration ("90m", "6h") or whole days ("7d"): Go's
// durations stop at hours, and windows are often counted in days.
func Parse(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("not a duration (like 90m, 6h or 7d): %q", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("not a duration (like 90m, 6h or 7d): %q", s)
		}
	}
	if d <= 0 || d > Max {
		return 0, fmt.Errorf("%w: %q", ErrRange, s)
	}
	return d, nil
}
