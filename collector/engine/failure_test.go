package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shadowdiff/shadowdiff/collector/internal/testlog"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// failingStore fails Apply while fail is set.
type failingStore struct {
	store.Store
	fail atomic.Bool
}

func (s *failingStore) Apply(bs ...*store.Batch) error {
	if s.fail.Load() {
		return errors.New("disk full")
	}
	return s.Store.Apply(bs...)
}

// A failed store write is reported and nothing of the batch stays in
// memory: the state is reloaded from what the store acknowledged.
func TestIngestStoreFailureReloadsState(t *testing.T) {
	clk := newClock()
	fs := &failingStore{}
	e := openOnStore(t, t.TempDir(), func(s store.Store) store.Store { fs.Store = s; return fs }, Options{Now: clk.Now})
	defer e.Close()
	ctx := context.Background()
	ingest(t, e, at(clk, dg("k", primary, "/z", 200, okBody()...)))

	fs.fail.Store(true)
	_, _, err := e.Ingest(ctx, []*shadowdiffv1.ResponseDigest{at(clk, dg("k", candidate, "/z", 200, okBody()...)), at(clk, dg("k2", primary, "/z", 200))})
	if err == nil {
		t.Fatal("ingest succeeded although the store failed")
	}
	fs.fail.Store(false)

	// The retry is not a duplicate: the failed batch left no trace.
	ingest(t, e, at(clk, dg("k", candidate, "/z", 200, okBody()...)))
	if got := counts(endpointsOf(t, e)["GET /z"]); got != "req=1 cmp=1 skip=0 inc=0(p0 s0 c0) fm=0 dup=0 raw=0 noise=0 reg=0" {
		t.Errorf("after the failure and a retry: %s", got)
	}
	if _, err := e.QueryServer().GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: "k2"}); err == nil {
		t.Error("k2 from the failed batch is known")
	}
}

// A stored pending digest that no longer decodes, or that an older
// version accepted but Validate refuses (a path that is not UTF-8 made the
// engine panic at the window's end, after every restart), is dropped at
// load and deleted from the store, so its segment does not stay on disk
// for good; the others are kept.
func TestOpenDeletesInvalidPendingDigests(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenBolt(dir, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good, err := dg("good", primary, "/z", 200, okBody()...).MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	latin1, err := dg("latin1", primary, "/caf\xe9", 200, okBody()...).MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	now := newClock().Now().UnixNano()
	err = st.Apply(&store.Batch{PutPending: []store.PendingDigest{
		{Key: "good", Role: primary, ArrivalNano: now, Digest: good},
		{Key: "bad", Role: candidate, ArrivalNano: now, Digest: []byte{0xff, 0xff, 0xff}},
		{Key: "latin1", Role: primary, ArrivalNano: now, Digest: latin1},
	}})
	if cerr := st.Close(); err != nil || cerr != nil {
		t.Fatalf("seed the store: %v, close: %v", err, cerr)
	}

	e, err := Open(dir, Options{Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.pairer.len(); n != 1 {
		t.Errorf("%d pending requests after load, want 1 (good)", n)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = store.OpenBolt(dir, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var keys []string
	if err := st.LoadPending(func(p store.PendingDigest) error { keys = append(keys, p.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "good" {
		t.Errorf("stored pending digests after the engine's load: %v, want [good]", keys)
	}
}

// buggyStore simulates bugs met while the engine builds a batch (which
// reads the store): Record panics while panicRecord is set (a request that
// closes incomplete is looked up), PutEndpointRule while panicRule is (a
// learned rule is stored). Apply blocks once block is set, until release
// is closed.
type buggyStore struct {
	store.Store
	panicRecord, panicRule, panicLoad, block atomic.Bool
	entered, release                         chan struct{}
}

// LoadBuckets panics while panicLoad is set: the state is read back.
func (s *buggyStore) LoadBuckets(fn func(b *store.Bucket) error) error {
	if s.panicLoad.Load() {
		panic("simulated bug")
	}
	return s.Store.LoadBuckets(fn)
}

func (s *buggyStore) Record(key string) (*shadowdiffv1.RequestRecord, bool, error) {
	if s.panicRecord.Load() {
		panic("simulated bug")
	}
	return s.Store.Record(key)
}

func (s *buggyStore) PutEndpointRule(r *shadowdiffv1.EndpointRule) (*shadowdiffv1.EndpointRule, error) {
	if s.panicRule.Load() {
		panic("simulated bug")
	}
	return s.Store.PutEndpointRule(r)
}

func (s *buggyStore) Apply(bs ...*store.Batch) error {
	if s.block.CompareAndSwap(true, false) {
		close(s.entered)
		<-s.release
	}
	return s.Store.Apply(bs...)
}

func openBuggy(t *testing.T, dir string, opts Options) (*Engine, *buggyStore, *prometheus.Registry) {
	t.Helper()
	bs := &buggyStore{entered: make(chan struct{}), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	e := openOnStore(t, dir, func(s store.Store) store.Store { bs.Store = s; return bs }, opts)
	// Not after a failure: an engine left locked would hang Close, and
	// the test with it until go test's timeout.
	t.Cleanup(func() {
		if !t.Failed() {
			e.Close()
		}
	})
	return e, bs, reg
}

// panicsCounted reads shadowdiff_collector_panics_total.
func panicsCounted(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "shadowdiff_collector_panics_total" {
			return mf.Metric[0].GetCounter().GetValue()
		}
	}
	return 0
}

// within runs call and fails the test if it does not return within 10 s:
// an engine left locked hangs it.
func within(t *testing.T, what string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s hung", what)
		return nil
	}
}

// ingestWithin is Ingest within 10 s.
func ingestWithin(t *testing.T, e *Engine, ds ...*shadowdiffv1.ResponseDigest) error {
	t.Helper()
	return within(t, "ingest", func() error {
		_, _, err := e.Ingest(context.Background(), ds)
		return err
	})
}

// endpointsWithin is endpointsOf within 10 s.
func endpointsWithin(t *testing.T, e *Engine) map[string]*shadowdiffv1.EndpointSummary {
	t.Helper()
	var eps map[string]*shadowdiffv1.EndpointSummary
	err := within(t, "a query", func() (err error) {
		eps, err = listEndpoints(e)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return eps
}

// A panic while a request closes (a bug) drops that request, logged and
// counted, and the ingest goes on: reloading the state would bring the
// request, still pending in the store, and its panic back at every close.
func TestPanicClosingARequestDropsIt(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	e, bs, reg := openBuggy(t, dir, Options{Now: clk.Now, MaxPending: 1})
	ingest(t, e, at(clk, dg("k1", primary, "/z", 200, okBody()...)))
	bs.panicRecord.Store(true)
	// k2 evicts k1, which closes incomplete and is looked up.
	if err := ingestWithin(t, e, at(clk, dg("k2", primary, "/z", 200))); err != nil {
		t.Fatalf("ingest through a panic: %v", err)
	}
	bs.panicRecord.Store(false)
	if n := panicsCounted(t, reg); n != 1 {
		t.Errorf("panics counted: %v, want 1", n)
	}
	if err := ingestWithin(t, e, at(clk, dg("k2", candidate, "/z", 200))); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// Stored so: k1 is no longer pending, k2 is recorded.
	e = openEngine(t, dir, clk, Options{})
	defer e.Close()
	if got := counts(endpointsOf(t, e)["GET /z"]); got != "req=1 cmp=1 skip=0 inc=0(p0 s0 c0) fm=0 dup=0 raw=0 noise=0 reg=0" {
		t.Errorf("after the panic: %s", got)
	}
	if _, err := e.QueryServer().GetRequest(context.Background(), &shadowdiffv1.GetRequestRequest{PairingKey: "k1"}); err == nil {
		t.Error("the dropped k1 is known")
	}
}

// A panic while a batch is built, elsewhere than in closing one request,
// refuses the batch and has the next writer reload the state from the
// store, after the batches queued before it are written: one was being
// written when the panic came, and it stays acknowledged.
func TestPanicBuildingABatchReloadsState(t *testing.T) {
	clk := newClock()
	e, bs, reg := openBuggy(t, t.TempDir(), Options{Now: clk.Now, AutoTemplateThreshold: 2})
	ctx := context.Background()
	bs.block.Store(true)
	first := make(chan error, 1)
	go func() {
		_, _, err := e.Ingest(ctx, []*shadowdiffv1.ResponseDigest{at(clk, dg("kA", primary, "/z", 200, okBody()...)), at(clk, dg("kA", candidate, "/z", 200, okBody()...))})
		first <- err
	}()
	<-bs.entered // kA's batch is being written
	bs.panicRule.Store(true)
	time.AfterFunc(200*time.Millisecond, func() { close(bs.release) })
	// Closing requests of a third value of the segment teaches a rule,
	// which is stored.
	var ds []*shadowdiffv1.ResponseDigest
	for i, name := range []string{"alice", "bob", "carol"} {
		for _, role := range []shadowdiffv1.Role{primary, candidate} {
			ds = append(ds, at(clk, dg(fmt.Sprint("kB", i), role, "/users/"+name+"/orders", 200)))
		}
	}
	if err := ingestWithin(t, e, ds...); err == nil || !strings.Contains(err.Error(), "internal error building the batch, not stored: simulated bug") || status.Code(err) != codes.Internal {
		t.Fatalf("ingest through a panic: %v", err)
	}
	bs.panicRule.Store(false)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := panicsCounted(t, reg); n != 1 {
		t.Errorf("panics counted: %v, want 1", n)
	}
	// The rule the refused batch learned is not stored by the loop (it
	// saves learned rules on its own) before the state is reloaded.
	e.saveLearned()
	if rules, err := e.QueryServer().ListEndpointRules(ctx, &shadowdiffv1.ListEndpointRulesRequest{}); err != nil || len(rules.Rules) != 0 {
		t.Errorf("endpoint rules after the refused batch: %v %v", rules, err)
	}
	// The state is the store's: kA is recorded, none of kB0..kB2 is known.
	if err := ingestWithin(t, e, at(clk, dg("kC", primary, "/z", 200, okBody()...))); err != nil {
		t.Fatal(err)
	}
	eps := endpointsOf(t, e)
	if got := counts(eps["GET /z"]); got != "req=1 cmp=1 skip=0 inc=0(p0 s0 c0) fm=0 dup=0 raw=0 noise=0 reg=0" || len(eps) != 1 {
		t.Errorf("after the panic: %s, %d endpoints", got, len(eps))
	}
	if _, err := e.QueryServer().GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: "kB0"}); err == nil {
		t.Error("kB0 from the refused batch is known")
	}
}

// A panic in code that runs under the endpoint mapper's own lock (naming,
// learning) leaves it unlocked: a query before the state is reloaded, and
// ingest after, go on.
func TestPanicUnderTheEndpointMapperLock(t *testing.T) {
	clk := newClock()
	e, _, reg := openBuggy(t, t.TempDir(), Options{Now: clk.Now, AutoTemplateThreshold: 2})
	e.locked(func() { e.endpoints.cfg.learned = func() { panic("simulated bug") } })
	// The third value of the segment teaches a rule, and calls learned:
	// its batch is refused.
	for i, name := range []string{"alice", "bob", "carol"} {
		err := ingestWithin(t, e, at(clk, dg(fmt.Sprint("k", i), primary, "/users/"+name+"/orders", 200)),
			at(clk, dg(fmt.Sprint("k", i), candidate, "/users/"+name+"/orders", 200)))
		if (err != nil) != (name == "carol") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if n := panicsCounted(t, reg); n != 1 {
		t.Errorf("panics counted: %v, want 1", n)
	}
	endpointsWithin(t, e)
	if err := ingestWithin(t, e, at(clk, dg("k9", primary, "/users/dave/orders", 200))); err != nil {
		t.Fatal(err)
	}
}

// A panic in a query (a bug), recovered as the gRPC and HTTP servers do,
// leaves no lock held: ingest and other queries go on. The panics are
// forced by breaking the state, standing in for any bug.
func TestPanicInQueriesLeavesTheEngineUnlocked(t *testing.T) {
	recovered := func(f func()) (panicked bool) {
		defer func() { panicked = recover() != nil }()
		f()
		return
	}
	within := func(what string, f func() error) {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					done <- fmt.Errorf("panic: %v %s", r, debug.Stack())
				}
			}()
			done <- f()
		}()
		select {
		case err := <-done:
			if err != nil && strings.HasPrefix(err.Error(), "panic") {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s hung", what)
		}
	}
	ctx := context.Background()
	for name, breakIt := range map[string]func(e *Engine) func(){
		"summing": func(e *Engine) func() {
			ea := e.aggs.eps["GET /z"]
			for s := range ea.buckets {
				ea.cache.behind[s] = nil // brought up to date by the next query
			}
			return func() { _, _ = e.QueryServer().ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: "GET /z"}) }
		},
		"clear": func(e *Engine) func() {
			e.repeats = nil
			return func() { _, _ = e.QueryServer().Clear(ctx, &shadowdiffv1.ClearRequest{}) }
		},
	} {
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			e := openEngine(t, t.TempDir(), clk, Options{})
			ingest(t, e, at(clk, dg("k0", primary, "/z", 200)), at(clk, dg("k0", candidate, "/z", 200)))
			endpointsOf(t, e) // the sums are cached
			var query func()
			e.locked(func() { query = breakIt(e) })
			if !recovered(query) {
				t.Fatal("the broken state did not make the query panic")
			}
			within("ingest", func() error {
				_, _, err := e.Ingest(ctx, []*shadowdiffv1.ResponseDigest{at(clk, dg("k1", primary, "/z", 200)), at(clk, dg("k1", candidate, "/z", 200))})
				return err
			})
			within("a query", func() error {
				_, err := e.QueryServer().ListNoiseRules(ctx, &shadowdiffv1.ListNoiseRulesRequest{})
				return err
			})
		})
	}
}

// A panic in a job of the engine's loop (a bug) is counted and the loop
// goes on, rather than the collector exiting.
func TestPanicInTheLoopIsSurvived(t *testing.T) {
	clk := newClock()
	e, _, reg := openBuggy(t, t.TempDir(), Options{Now: clk.Now, PairWindow: 200 * time.Millisecond})
	ingest(t, e, at(clk, dg("k0", primary, "/z", 200)), at(clk, dg("k0", candidate, "/z", 200)))
	endpointsOf(t, e) // the sums are cached
	e.locked(func() {
		for s := range e.aggs.eps["GET /z"].buckets {
			e.aggs.eps["GET /z"].cache.behind[s] = nil // the loop's view of the endpoint panics
		}
	})
	// A request closed has the loop look at the endpoint again; k2 waits.
	ingest(t, e, at(clk, dg("k1", primary, "/z", 200)), at(clk, dg("k1", candidate, "/z", 200)), at(clk, dg("k2", primary, "/z", 200)))
	deadline := time.Now().Add(10 * time.Second)
	for panicsCounted(t, reg) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no panic counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The loop still closes requests at the end of their window.
	clk.Add(time.Second)
	for counts(endpointsWithin(t, e)["GET /z"]) != "req=3 cmp=2 skip=0 inc=1(p0 s0 c1) fm=0 dup=0 raw=0 noise=0 reg=0" {
		if time.Now().After(deadline) {
			t.Fatalf("k2 not closed by the loop: %s", counts(endpointsWithin(t, e)["GET /z"]))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A panic while the state is reloaded (a bug) fails the writer that
// reloads, leaves no lock held, and the next writer tries again; the loop,
// which reloads too, goes on.
func TestPanicReloadingTheState(t *testing.T) {
	clk := newClock()
	e, bs, reg := openBuggy(t, t.TempDir(), Options{Now: clk.Now, PairWindow: 200 * time.Millisecond})
	ingest(t, e, at(clk, dg("k0", primary, "/z", 200)), at(clk, dg("k0", candidate, "/z", 200)))
	bs.panicLoad.Store(true)
	e.cq.invalidate() // as a failed write does
	time.Sleep(200 * time.Millisecond)
	if err := ingestWithin(t, e, at(clk, dg("k1", primary, "/z", 200)), at(clk, dg("k1", candidate, "/z", 200))); err == nil ||
		!strings.Contains(err.Error(), "reload the state: engine: internal error: simulated bug") {
		t.Fatalf("ingest through a panicking reload: %v", err)
	}
	if n := panicsCounted(t, reg); n < 2 {
		t.Errorf("panics counted: %v, want the loop's and the ingest's", n)
	}
	bs.panicLoad.Store(false)
	if err := ingestWithin(t, e, at(clk, dg("k1", primary, "/z", 200)), at(clk, dg("k1", candidate, "/z", 200))); err != nil {
		t.Fatal(err)
	}
	if got := counts(endpointsWithin(t, e)["GET /z"]); got != "req=2 cmp=2 skip=0 inc=0(p0 s0 c0) fm=0 dup=0 raw=0 noise=0 reg=0" {
		t.Errorf("after the reload: %s", got)
	}
}

// A request dropped within a minute of the last reload after a bug has the
// state reloaded once the minute is over, not never.
func TestDropReloadsTheStateAtMostOnceAMinute(t *testing.T) {
	clk := newClock()
	logs := &testlog.Buffer{}
	e, bs, _ := openBuggy(t, t.TempDir(), Options{Now: clk.Now, MaxPending: 1, Logger: logs.Logger()})
	loads := func() int { return len(logs.Records(t, "engine state loaded")) }
	e.writeMu.Lock()
	e.invalidatedAfterBug = time.Now().Add(-time.Minute + 300*time.Millisecond)
	e.writeMu.Unlock()
	ingest(t, e, at(clk, dg("k1", primary, "/z", 200, okBody()...)))
	bs.panicRecord.Store(true)
	ingest(t, e, at(clk, dg("k2", primary, "/z", 200))) // evicts k1, which is dropped
	bs.panicRecord.Store(false)
	ingest(t, e, at(clk, dg("k2", candidate, "/z", 200)))
	if n := loads(); n != 1 {
		t.Fatalf("state loaded %d times within a minute of the last reload, want once (at the start)", n)
	}
	time.Sleep(400 * time.Millisecond)
	ingest(t, e, at(clk, dg("k2", candidate, "/z", 200))) // a duplicate: the reload is due
	ingest(t, e, at(clk, dg("k2", candidate, "/z", 200))) // and done by this writer, or the loop
	if n := loads(); n != 2 {
		t.Errorf("state loaded %d times, want twice", n)
	}
}
