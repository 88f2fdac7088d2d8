package engine

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openEngine(t *testing.T, dir string, clk *clock, opts Options) *Engine {
	t.Helper()
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	if opts.PairWindow == 0 {
		opts.PairWindow = 10 * time.Second
	}
	e, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	return e
}

// openOnStore opens an engine on a bbolt store in dir seen through wrap: a
// test's stand-in that injects faults or watches the writes.
func openOnStore(t *testing.T, dir string, wrap func(store.Store) store.Store, opts Options) *Engine {
	t.Helper()
	bolt, err := store.OpenBolt(dir, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := openStore(wrap(bolt), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ingest(t *testing.T, e *Engine, ds ...*shadowdiffv1.ResponseDigest) {
	t.Helper()
	n, rej, err := e.Ingest(context.Background(), ds)
	if err != nil || len(rej) > 0 || n != len(ds) {
		t.Fatalf("ingest: accepted %d of %d, rejected %v, err %v", n, len(ds), rej, err)
	}
}

// at sets the digest's start time to the clock's time.
func at(clk *clock, d *shadowdiffv1.ResponseDigest) *shadowdiffv1.ResponseDigest {
	d.StartUnixNanos = clk.Now().UnixNano()
	return d
}

func endpointsOf(t *testing.T, e *Engine) map[string]*shadowdiffv1.EndpointSummary {
	t.Helper()
	out, err := listEndpoints(e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// listEndpoints returns the endpoints' summaries by name.
func listEndpoints(e *Engine) (map[string]*shadowdiffv1.EndpointSummary, error) {
	resp, err := e.QueryServer().ListEndpoints(context.Background(), &shadowdiffv1.ListEndpointsRequest{})
	if err != nil {
		return nil, err
	}
	out := map[string]*shadowdiffv1.EndpointSummary{}
	for _, s := range resp.Endpoints {
		out[s.Endpoint] = s
	}
	return out, nil
}

func counts(s *shadowdiffv1.EndpointSummary) string {
	if s == nil {
		return "<none>"
	}
	return fmt.Sprintf("req=%d cmp=%d skip=%d inc=%d(p%d s%d c%d) fm=%d dup=%d raw=%d noise=%d reg=%d",
		s.Requests, s.Compared, s.SkippedSideEffect, s.Requests-s.Compared-s.SkippedSideEffect-s.FingerprintMismatch,
		s.Incomplete.GetMissingPrimary(), s.Incomplete.GetMissingSecondary(), s.Incomplete.GetMissingCandidate(),
		s.FingerprintMismatch, s.Duplicates, s.RawDifferent, s.NoiseDifferent, s.RegressionDifferent)
}

func TestEngineSmoke(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	for i := range 5 {
		key := fmt.Sprint("k", i)
		ingest(t, e,
			at(clk, dg(key, primary, "/users/42", 200, f{"a", tStr, sText, "x"}, f{"at", tStr, sTime, fmt.Sprint("p", i)})),
			at(clk, dg(key, secondary, "/users/42", 200, f{"a", tStr, sText, "x"}, f{"at", tStr, sTime, fmt.Sprint("s", i)})),
			at(clk, dg(key, candidate, "/users/42", 200, f{"a", tStr, sText, "y"}, f{"at", tStr, sTime, fmt.Sprint("c", i)})))
	}
	eps := endpointsOf(t, e)
	if got := counts(eps["GET /users/{id}"]); got != "req=5 cmp=5 skip=0 inc=0(p0 s0 c0) fm=0 dup=0 raw=5 noise=5 reg=5" {
		t.Errorf("summary = %s", got)
	}
}

// Options out of range are refused by Open, NaN confidence included (it
// passed both comparisons of a range check).
func TestOpenRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{
		{PairWindow: -time.Second}, {MaxPending: -1}, {Retention: MinRetention - time.Nanosecond},
		{SamplesPerField: -1}, {Confidence: 1}, {Confidence: -0.5}, {Confidence: math.NaN()},
	} {
		if e, err := Open(t.TempDir(), o); err == nil {
			e.Close()
			t.Errorf("Open accepted %+v", o)
		}
	}
}
