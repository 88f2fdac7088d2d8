package cli

import (
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shadowdiff/shadowdiff/collector/internal/window"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// rangeFlags select a time window: --since, or --from and --to.
type rangeFlags struct {
	since    time.Duration
	from, to string
	now      func() time.Time
}

func (r *rangeFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	// Results are aggregated per minute (per hour past 2 h): the window is
	// widened to the buckets it touches, and the help says so.
	f.Var((*sinceValue)(&r.since), "since", "only results of the last DURATION (e.g. 90m, 6h or 7d), in whole minutes (hours past 2h)")
	f.StringVar(&r.from, "from", "", "only results from TIME on (RFC 3339, e.g. 2025-06-01T12:00:00Z), from the start of its minute (hour past 2h)")
	f.StringVar(&r.to, "to", "", "only results before TIME (RFC 3339), to the end of its minute (hour past 2h)")
}

// timeRange is the window of the flags, nil when none was given.
func (r *rangeFlags) timeRange() (*shadowdiffv1.TimeRange, error) {
	if r.since == 0 && r.from == "" && r.to == "" {
		return nil, nil
	}
	if r.since != 0 && r.from != "" {
		return nil, usagef("give --since or --from, not both")
	}
	if r.since < 0 {
		return nil, usagef("--since must be positive, got %s", r.since)
	}
	tr := &shadowdiffv1.TimeRange{}
	if r.since > 0 {
		now := time.Now
		if r.now != nil {
			now = r.now
		}
		tr.Start = timestamppb.New(now().Add(-r.since))
	}
	for _, b := range []struct {
		flag, value string
		dst         **timestamppb.Timestamp
	}{{"--from", r.from, &tr.Start}, {"--to", r.to, &tr.End}} {
		if b.value == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, b.value)
		if err != nil {
			return nil, usagef("%s: not an RFC 3339 time (like 2025-06-01T12:00:00Z): %q", b.flag, b.value)
		}
		*b.dst = timestamppb.New(t)
	}
	if tr.Start != nil && tr.End != nil && !tr.End.AsTime().After(tr.Start.AsTime()) {
		return nil, usagef("the window is empty: --to must be after the start")
	}
	return tr, nil
}

// sinceValue is --since: a Go duration or whole days ("7d"), parsed as the
// console parses its window.
type sinceValue time.Duration

func (v *sinceValue) String() string {
	if *v == 0 {
		return "" // no default shown in the help
	}
	return time.Duration(*v).String()
}

func (v *sinceValue) Set(s string) error {
	d, err := window.Parse(s)
	if err != nil {
		return err
	}
	*v = sinceValue(d)
	return nil
}

func (v *sinceValue) Type() string { return "duration" }
