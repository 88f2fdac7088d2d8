package cli

import (
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestTimeRange(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		rf         rangeFlags
		start, end string // RFC 3339, "" for unset
		nilRange   bool
	}{
		{rf: rangeFlags{}, nilRange: true},
		{rf: rangeFlags{since: time.Hour}, start: "2025-06-01T11:00:00Z"},
		{rf: rangeFlags{from: "2025-06-01T10:00:00Z", to: "2025-06-01T10:30:00+00:00"}, start: "2025-06-01T10:00:00Z", end: "2025-06-01T10:30:00Z"},
		{rf: rangeFlags{to: "2025-06-01T10:30:00+02:00"}, end: "2025-06-01T08:30:00Z"},
	} {
		c.rf.now = func() time.Time { return now }
		tr, err := c.rf.timeRange()
		if err != nil {
			t.Errorf("%+v: %v", c.rf, err)
			continue
		}
		if c.nilRange != (tr == nil) {
			t.Errorf("%+v: range %v, want nil %v", c.rf, tr, c.nilRange)
			continue
		}
		if tr == nil {
			continue
		}
		if got := rfc(tr.GetStart().AsTime(), tr.GetStart() != nil); got != c.start {
			t.Errorf("%+v: start %q, want %q", c.rf, got, c.start)
		}
		if got := rfc(tr.GetEnd().AsTime(), tr.GetEnd() != nil); got != c.end {
			t.Errorf("%+v: end %q, want %q", c.rf, got, c.end)
		}
	}
	for _, rf := range []rangeFlags{
		{since: time.Hour, from: "2025-06-01T10:00:00Z"},
		{since: -time.Hour},
		{from: "2025-06-01T10:00:00Z", to: "2025-06-01T10:00:00Z"},
		{to: "10:00"},
	} {
		if _, err := rf.timeRange(); err == nil || !isUsage(err) {
			t.Errorf("%+v: %v, want a usage error", rf, err)
		}
	}
}

func rfc(t time.Time, set bool) string {
	if !set {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// --since takes days as the console's window does.
func TestSinceTakesDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "90m": 90 * time.Minute} {
		var rf rangeFlags
		cmd := &cobra.Command{}
		rf.add(cmd)
		if err := cmd.Flags().Parse([]string{"--since", in}); err != nil || rf.since != want {
			t.Errorf("--since %s: %v, %v; want %v", in, rf.since, err, want)
		}
	}
	for _, in := range []string{"soon", "0", "-1h", "1.5d"} {
		var rf rangeFlags
		cmd := &cobra.Command{}
		rf.add(cmd)
		if err := cmd.Flags().Parse([]string{"--since", in}); err == nil {
			t.Errorf("--since %s: no error", in)
		}
	}
}
