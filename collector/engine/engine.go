// Package engine is the core of the shadowdiff collector: it validates and
// pairs digests, diffs primary against candidate and secondary, aggregates
// per endpoint and field, decides which differences are regressions, and
// serves the Query API.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// MinRetention is the shortest Retention: stored results are rolled up
// and deleted by a maintenance pass that runs about once a minute.
const MinRetention = time.Minute

// Options configure an Engine; zero values take defaults.
type Options struct {
	PairWindow      time.Duration // default 30s
	MaxPending      int           // default 100000
	Retention       time.Duration // default 168h, at least MinRetention
	SamplesPerField int           // default 20
	Confidence      float64       // default 0.99
	MinSamples      int           // default 200
	Logger          *slog.Logger
	Registerer      prometheus.Registerer // may be nil; bounded label sets only (endpoint, role, reason — never field paths or request ids)
	Now             func() time.Time      // nil = time.Now
	// AutoTemplateThreshold: distinct values a path segment takes, among
	// paths alike elsewhere, before it is learned as a parameter (an
	// endpoint rule); default DefaultAutoTemplateThreshold, at most
	// MaxAutoTemplateThreshold, negative: no learning.
	AutoTemplateThreshold int
	// MaxEndpoints caps the endpoints named by templating; past it, new
	// ones are counted under "METHOD {other}". Default
	// DefaultMaxEndpoints, negative: no cap.
	MaxEndpoints int
}

func (o *Options) setDefaults() error {
	if o.PairWindow == 0 {
		o.PairWindow = 30 * time.Second
	}
	if o.MaxPending == 0 {
		o.MaxPending = 100000
	}
	if o.Retention == 0 {
		o.Retention = 168 * time.Hour
	}
	if o.SamplesPerField == 0 {
		o.SamplesPerField = 20
	}
	if o.Confidence == 0 {
		o.Confidence = 0.99
	}
	if o.MinSamples == 0 {
		o.MinSamples = 200
	}
	if o.AutoTemplateThreshold == 0 {
		o.AutoTemplateThreshold = DefaultAutoTemplateThreshold
	}
	if o.MaxEndpoints == 0 {
		o.MaxEndpoints = DefaultMaxEndpoints
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.PairWindow < 0:
		return errors.New("engine: PairWindow must be positive")
	case o.MaxPending < 0:
		return errors.New("engine: MaxPending must be positive")
	case o.Retention < MinRetention:
		return fmt.Errorf("engine: Retention must be at least %s", MinRetention)
	case o.SamplesPerField < 0:
		return errors.New("engine: SamplesPerField must be positive")
	case !(o.Confidence > 0 && o.Confidence < 1): // NaN too
		return errors.New("engine: Confidence must be in (0, 1)")
	case o.MinSamples < 0:
		return errors.New("engine: MinSamples must be positive")
	case o.AutoTemplateThreshold > MaxAutoTemplateThreshold:
		return fmt.Errorf("engine: AutoTemplateThreshold must be at most %d", MaxAutoTemplateThreshold)
	}
	return nil
}

// DefaultMaxEndpoints: a service has tens to a few hundred endpoints (the
// metrics label only the first 200); the rest is room for new endpoints
// and scanners' one-off paths, each an endpoint until it ages out. A
// one-request endpoint keeps about 5 KiB of heap (BenchmarkDistinctPaths),
// an endpoint with traffic a bucket per minute for two hours: the cap
// bounds that to megabytes, and ListEndpoints stays a list one can read.
const DefaultMaxEndpoints = 1000

// sampleInterval: once a field has its samples, it takes a new one at
// most this often, which bounds the writes of full records.
const sampleInterval = time.Second

// sampleIdle: when an endpoint's sampling state is full, the fields
// without a sample for this long are forgotten, so that fields seen once
// (ids as object keys) leave room for a field that starts to differ. The
// state only paces fields that differ often: forgotten, a field may take
// SamplesPerField samples at once again, once a minute at most.
const sampleIdle = time.Minute

// sampleSweepGap: a full sampling state is swept for idle fields at most
// this often, so that a flood of new fields costs a lookup each, not a
// sweep each.
const sampleSweepGap = 5 * time.Second

// Engine pairs, diffs and aggregates digests and answers queries.
type Engine struct {
	opts Options
	log  *slog.Logger
	st   store.Store
	met  *metrics
	cfg  statConfig
	lim  limits

	// writeMu orders every change that is written to the store (ingest,
	// expiry, rollup, retention, clear, rules); batches are written by cq.
	writeMu   sync.Mutex
	cq        *commitQueue
	loadedGen uint64
	// mu guards the in-memory state below; queries take it for reading.
	mu            sync.RWMutex
	closed        bool
	pairer        *pairer
	endpoints     *endpointMapper
	aggs          *aggregates
	secondarySeen map[string]bool
	repeats       *repeatCache
	paths         *interner    // body field paths of slim digests
	bodyFields    *fieldSource // reads and recycles the body fields of encoded digests
	fin           finalizeScratch
	noiseRules    []*shadowdiffv1.NoiseRule
	noiseGen      uint64 // changes to noiseRules, for cached views (overview.go)
	sampled       map[string]*fieldsSampling
	dropped       uint64
	// overflowWarned: when the cap was last logged; overflowed since.
	overflowWarned time.Time
	overflowed     uint64
	// learned wakes the loop to store the endpoint rules just learned.
	learned chan struct{}
	// panicLog: when a panic's stack was last logged, by place (logPanic).
	panicLog struct {
		sync.Mutex
		stackAt map[string]time.Time
	}
	// suspect: a bug may have left the state wrong; invalidatedAfterBug:
	// when that last had it given up (invalidateIfSuspect, writeMu held).
	suspect             atomic.Bool
	invalidatedAfterBug time.Time

	watch *watchHub
	// watchState: significant fields at the last evaluation (loop only).
	watchState map[string]map[string]*shadowdiffv1.FieldStats

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// sampleState paces the samples of one field, definite or not.
type sampleState struct {
	n    int   // samples taken, up to SamplesPerField
	last int64 // request time of the newest (Unix ns)
}

// fieldSampling is a field's sampleState when not definite, and when definite.
type fieldSampling [2]sampleState

// last is the request time of the field's newest sample.
func (f *fieldSampling) last() int64 { return max(f[0].last, f[1].last) }

// fieldsSampling is the sampling state of an endpoint's fields (Engine.sampled
// by endpoint).
type fieldsSampling struct {
	byPath map[string]fieldSampling // at most lim.maxFields, as many as a bucket counts
	// sweepAt: the request time (Unix ns) before which a full byPath is
	// not swept again (room).
	sweepAt int64
}

// room reports whether a new field's state fits at request time now: under
// maxFields, or once the fields idle for sampleIdle are forgotten. Below
// maxFields nothing is forgotten, so sampling depends on the traffic
// alone. A sweep is not repeated for sampleSweepGap, nor before the oldest
// field left turns idle.
func (s *fieldsSampling) room(now int64, maxFields int) bool {
	if len(s.byPath) < maxFields {
		return true
	}
	if now < s.sweepAt {
		return false
	}
	idle := now - int64(sampleIdle)
	s.sweepAt = now + int64(sampleSweepGap)
	next := int64(math.MaxInt64) // when the oldest field left turns idle
	for path, fs := range s.byPath {
		if last := fs.last(); last < idle {
			delete(s.byPath, path)
		} else {
			next = min(next, last+int64(sampleIdle))
		}
	}
	if len(s.byPath) >= maxFields {
		s.sweepAt = max(s.sweepAt, next)
		return false
	}
	return true
}

// Open opens (or creates) the engine's store in dir, reloads pending
// requests and aggregates, and starts the background loop.
func Open(dir string, opts Options) (*Engine, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	st, err := store.OpenBolt(dir, store.BoltOptions{SamplesPerField: opts.SamplesPerField})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return openStore(st, opts)
}

// openStore runs an engine on an open store (another backend, or a test's).
func openStore(st store.Store, opts Options) (*Engine, error) {
	if err := opts.setDefaults(); err != nil {
		st.Close()
		return nil, err
	}
	met, err := newMetrics(opts.Registerer)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("engine: %w", err)
	}
	e := &Engine{
		opts: opts, log: opts.Logger, st: st, met: met,
		cfg:        statConfig{alpha: significanceLevel(opts.Confidence), minSamples: uint64(opts.MinSamples)},
		lim:        limits{maxFields: maxFieldsPerBucket, maxSignatures: maxSignatures},
		watch:      newWatchHub(met.watchDropped),
		cq:         newCommitQueue(),
		bodyFields: newFieldSource(newPathTable()),
		learned:    make(chan struct{}, 1),
		stop:       make(chan struct{}), done: make(chan struct{}),
	}
	if err := e.load(); err != nil {
		st.Close()
		return nil, fmt.Errorf("engine: load state: %w", err)
	}
	e.primeWatch()
	go e.runCommits()
	go e.loop()
	return e, nil
}

// load (re)builds the in-memory state from the store.
func (e *Engine) load() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.aggs = newAggregates()
	e.endpoints = newEndpointMapper(mapperConfig{
		maxEndpoints:   max(e.opts.MaxEndpoints, 0),
		learnThreshold: max(e.opts.AutoTemplateThreshold, 0),
		learned:        e.pokeLearned,
		log:            e.log,
	}, e.aggs)
	e.secondarySeen = map[string]bool{}
	e.repeats = newRepeatCache(maxRepeatKeys)
	e.bodyFields.paths.reset() // paths of what is dropped with the state
	e.paths = newInterner(e.bodyFields.paths)
	e.sampled = map[string]*fieldsSampling{}
	e.pairer = newPairer(e.opts.PairWindow, e.opts.MaxPending, e.complete)

	err := e.loadEndpointRules(true)
	if err != nil {
		return err
	}
	if e.noiseRules, err = e.st.NoiseRules(); err != nil {
		return err
	}
	if e.dropped, err = e.st.Dropped(); err != nil {
		return err
	}
	err = e.st.LoadBuckets(func(b *store.Bucket) error {
		e.aggs.load(b)
		if b.Counts.WithSecondary > 0 {
			e.secondarySeen[b.Endpoint] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	n := 0
	var refused []store.PendingRef
	err = e.st.LoadPending(func(p store.PendingDigest) error {
		d := &shadowdiffv1.ResponseDigest{}
		err := d.UnmarshalVT(p.Digest)
		if err == nil {
			// Stored by a version that checked less (strings that are
			// not UTF-8 made the engine panic at the window's end).
			err = Validate(d)
		}
		if err != nil {
			e.log.Warn("dropping invalid pending digest", "pairing_key", p.Key, "role", roleLabel(p.Role), "err", err)
			refused = append(refused, store.PendingRef{Key: p.Key, Role: p.Role})
			return nil
		}
		sortDigest(d) // stored sorted; older versions may not have
		if d.Role == secondary {
			e.secondarySeen[e.endpoints.of(d).key] = true // as ingest set it
		}
		sd, fields := slim(d, e.paths)
		if r := e.pairer.restore(sd, time.Unix(0, p.ArrivalNano)); r != nil {
			r.fields[d.Role] = fields
			n++
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Deleted, or they would keep their segments on disk for good. The
	// store holds one digest per (key, role), so this deletes only them.
	// Housekeeping: a failure (a full disk) must not keep the engine from
	// starting; the next load tries again.
	if len(refused) > 0 {
		if err := e.st.Apply(&store.Batch{DeletePending: refused}); err != nil {
			e.log.Warn("could not delete refused pending digests", "count", len(refused), "err", err)
		}
	}
	recent, err := e.restoreRecent()
	if err != nil {
		return err
	}
	e.met.pending.Set(float64(e.pairer.len()))
	e.met.endpoints.Set(float64(len(e.aggs.eps)))
	e.log.Info("engine state loaded", "pending_digests", n, "recent_keys", recent, "endpoints", len(e.aggs.eps))
	return nil
}

// restoreRecent gives the pairer back the keys it remembered as closed:
// those of the records of the last recentWindows windows, as many as it
// keeps. A retry after a restart (a batch stored but not acknowledged when
// the collector stopped, which its sender sends again) is then a duplicate,
// as without a restart, not a request counted twice. Records are found by
// their time, the sidecar's clock: a record more than a window ahead of
// the collector's is left out (a few such records would take the place of
// the recent ones), and one whose clock is behind by more than the
// remembered windows is not found.
func (e *Engine) restoreRecent() (int, error) {
	now, w := e.opts.Now(), e.opts.PairWindow
	var closed []recentRecord
	err := e.st.RecentRecords(now.Add(-recentWindows*w), now.Add(w), e.opts.MaxPending, func(rec *shadowdiffv1.RequestRecord) error {
		if r, ok := recentRecordOf(rec); ok {
			closed = append(closed, r)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("engine: load recent records: %w", err)
	}
	// Oldest first, the order in which the pairer remembers them.
	slices.SortStableFunc(closed, func(a, b recentRecord) int { return a.at.Compare(b.at) })
	n := 0
	for _, r := range closed {
		if e.pairer.restoreRecent(r, now) {
			n++
		}
	}
	return n, nil
}

// complete decides whether a pending request has every role to wait for:
// primary and candidate, and a secondary when its endpoint has had one.
func (e *Engine) complete(r *pendingReq) bool {
	if !r.has(primary) || !r.has(candidate) {
		return false
	}
	return r.has(secondary) || !e.secondarySeen[e.endpoints.of(r.first()).key]
}

// QueryServer returns the Query API over the engine's results.
func (e *Engine) QueryServer() shadowdiffv1.QueryServer { return &queryServer{e: e} }

// Flush force-closes pairs whose window ended.
func (e *Engine) Flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return e.expire()
}

// Close stops the background loop, flushes and closes the store. Pending
// requests whose window has not ended stay in the store for the next Open.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		close(e.stop)
		<-e.done
		flushErr := e.expire()
		e.writeMu.Lock()
		if _, err := e.prepareWrite(); err == nil { // not rules of a failed build
			e.saveLearnedLocked() // learned since the loop ended, or not yet stored
		}
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		e.writeMu.Unlock()
		e.cq.stop()
		e.watch.close()
		if err := e.st.Close(); err != nil {
			e.closeErr = fmt.Errorf("engine: %w", err)
			return
		}
		e.closeErr = flushErr
	})
	return e.closeErr
}

// RecordDropped counts digests that filters dropped before sending.
func (e *Engine) RecordDropped(ctx context.Context, n uint64) error {
	if n == 0 {
		return nil
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	total, err := e.st.AddDropped(n)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.mu.Lock()
	e.dropped = total
	e.mu.Unlock()
	return nil
}

// loop expires windows, rolls buckets up, applies retention and announces
// regressions until Close.
func (e *Engine) loop() {
	defer close(e.done)
	tick := min(max(e.opts.PairWindow/4, 50*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	var lastMaintenance time.Time
	for {
		select {
		case <-e.stop:
			return
		case <-e.learned:
			e.step("store learned endpoint rules", true, e.saveLearned)
			continue
		case <-t.C:
		}
		e.step("store learned endpoint rules", true, e.saveLearned) // again after a store error
		e.step("expire pending requests", true, e.expire)
		if now := time.Now(); now.Sub(lastMaintenance) >= time.Minute {
			lastMaintenance = now
			e.step("maintenance", true, e.maintain)
		}
		e.step("announce regressions", false, func() error { e.evaluateWatch(); return nil })
	}
}

// step runs one of the loop's jobs and logs its error. A panic in it (a
// bug) is counted and logged, and the loop goes on: a job that panics on
// the stored state would otherwise crash the collector after every
// restart. A job that writes may have left the state half changed: it is
// reloaded from the store soon (invalidateIfSuspect). The jobs release
// their locks by defer, and a reload recovers its own panics
// (prepareWrite).
func (e *Engine) step(job string, writes bool, run func() error) {
	defer func() {
		if r := recover(); r != nil {
			e.logPanic(job, r)
			if writes {
				e.suspect.Store(true)
			}
		}
	}()
	if err := run(); err != nil {
		e.log.Error(job, "err", err)
	}
}
