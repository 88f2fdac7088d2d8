package console

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/engine"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// seeded describes the traffic a seeded collector holds (digests_test.go),
// so tests assert what the data implies.
type seeded struct {
	q              shadowdiffv1.QueryServer
	regressed      string // endpoint with a real regression
	almost         string // endpoint with a rare real difference beside noise
	clean          string // endpoint without differences
	sideEffects    string // endpoint whose shadows were skipped (side effects)
	regressedField string
	noiseField     string
	sameField      string
	candidateValue string // raw value of regressedField on the candidate
	primaryValue   string // raw value of regressedField on the primary
	totalRequests  uint64
	compared       uint64
	skipped        uint64
	incomplete     uint64
	ratings        map[string]string // endpoint -> rating name
}

// ranked is the expected overview order with the engine's ratings: by
// difference rate, ties by name.
func (s *seeded) ranked() []string {
	var out []string
	for _, e := range []string{s.regressed, s.almost, s.clean, s.sideEffects} {
		out = append(out, e+"="+s.ratings[e])
	}
	return out
}

// rankedDisplay is ranked as the app shows it: an endpoint without
// compared requests has no rating ("NONE"), whatever its zero rate says.
func (s *seeded) rankedDisplay() []string {
	out := s.ranked()
	out[3] = s.sideEffects + "=NONE"
	return out
}

// offsetClock is the engine's clock: real time plus an offset the test
// moves forward to end pairing windows without waiting.
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *offsetClock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// openEngine opens a real, empty collector engine (default decision
// settings) in a temporary directory.
func openEngine(t testing.TB) (*engine.Engine, *offsetClock) {
	t.Helper()
	return openEngineWith(t, engine.Options{})
}

// openEngineWith opens an engine with opts, the seed's pair window, a
// clock of its own and a quiet logger.
func openEngineWith(t testing.TB, opts engine.Options) (*engine.Engine, *offsetClock) {
	t.Helper()
	clk := &offsetClock{}
	opts.PairWindow, opts.Now, opts.Logger = seedPairWindow, clk.Now, quietLogger()
	eng, err := engine.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() {
		if err := eng.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return eng, clk
}

// seedPairWindow is the engine's pairing window in the tests.
const seedPairWindow = 5 * time.Second

// ingestSeed ingests the synthetic traffic three minutes in the past, ends
// the pairing window of the incomplete requests and flushes them. Three,
// not two: a window counts every minute bucket it touches, so with the
// seed (~1.2 s long) straddling a minute boundary two minutes back, a
// 1-minute window starting a few ms later touched its last bucket.
func ingestSeed(t testing.TB, eng *engine.Engine, clk *offsetClock) {
	t.Helper()
	ctx := context.Background()
	start := time.Now().Add(-3 * time.Minute)
	digests := append(seedDigests(start), seedIncompleteDigests(start)...)
	for i := 0; i < len(digests); i += 600 { // whole triples per batch
		batch := digests[i:min(i+600, len(digests))]
		accepted, rejected, err := eng.Ingest(ctx, batch)
		if err != nil || accepted != len(batch) || len(rejected) > 0 {
			t.Fatalf("ingest: accepted %d of %d, rejected %v, err %v", accepted, len(batch), rejected, err)
		}
	}
	clk.advance(seedPairWindow + time.Second)
	if err := eng.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// seedCollector is a real engine holding the seeded traffic.
func seedCollector(t testing.TB) *seeded {
	t.Helper()
	eng, clk := openEngine(t)
	ingestSeed(t, eng, clk)
	const (
		regressed = "GET /api/orders/{id}"
		almost    = "GET " + seedTimePath
		clean     = "GET " + seedProdPath
		post      = "POST " + seedPostPath
	)
	return &seeded{
		q:         eng.QueryServer(),
		regressed: regressed, almost: almost, clean: clean, sideEffects: post,
		regressedField: "body.order.total",
		noiseField:     "body.meta.generated_at",
		sameField:      "body.items[].sku",
		candidateValue: "10.50",
		primaryValue:   "10.5",
		totalRequests:  3*seedRequests + seedSideEffects + seedIncomplete,
		compared:       3 * seedRequests,
		skipped:        seedSideEffects,
		incomplete:     seedIncomplete,
		ratings: map[string]string{
			regressed: "POOR",        // every compared request differs
			almost:    "ALMOST",      // 1 %
			clean:     "PERFECT",     // identical
			post:      "UNSPECIFIED", // nothing compared: no rating
		},
	}
}
