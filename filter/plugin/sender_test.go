package plugin

import (
	"math"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/filter/config"
)

// Reconnect backoff doubles up to max_backoff and stays there, whatever
// max_backoff is: backoff*2 used to overflow to a negative bound (with
// max_backoff "2500000h"), and rand.Int64N panicked on it.
func TestBackoffSaturatesWithoutOverflow(t *testing.T) {
	for _, limit := range []time.Duration{30 * time.Second, time.Hour, 2500000 * time.Hour, math.MaxInt64} {
		cfg := config.Default()
		cfg.Reconnect.MaxBackoff = config.Duration(limit)
		now := time.Unix(0, 0)
		s := &sender{cfg: &cfg, now: func() time.Time { return now }, backoff: time.Duration(cfg.Reconnect.InitialBackoff)}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("max_backoff %v: panic after repeated reconnects: %v", limit, p)
				}
			}()
			prev := s.backoff
			for range 100 {
				s.scheduleRedial()
				if s.backoff < prev || s.backoff > limit {
					t.Fatalf("max_backoff %v: backoff went from %v to %v", limit, prev, s.backoff)
				}
				if !s.nextDial.After(now) {
					t.Fatalf("max_backoff %v, backoff %v: next dial %v is not after now %v", limit, s.backoff, s.nextDial, now)
				}
				prev = s.backoff
			}
		}()
		if s.backoff != limit {
			t.Errorf("max_backoff %v: backoff after 100 reconnects is %v", limit, s.backoff)
		}
	}
}
