package engine

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	bolt, err := store.OpenBolt(t.TempDir(), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fs := &failingStore{Store: bolt}
	e, err := openStore(fs, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	ingest(t, e, at(clk, dg("k", primary, "/z", 200, okBody()...)))

	fs.fail.Store(true)
	_, _, err = e.Ingest(ctx, []*shadowdiffv1.ResponseDigest{at(clk, dg("k", candidate, "/z", 200, okBody()...)), at(clk, dg("k2", primary, "/z", 200))})
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

// panickingStore panics in Record while panic is set: the engine reads
// Record while it builds a batch (to look up a request that closes
// incomplete), so a bug there is simulated.
type panickingStore struct {
	store.Store
	panic atomic.Bool
}

func (s *panickingStore) Record(key string) (*shadowdiffv1.RequestRecord, bool, error) {
	if s.panic.Load() {
		panic("simulated bug")
	}
	return s.Store.Record(key)
}

// A panic while an ingest builds its batch fails that ingest and leaves the
// engine working, its state reloaded from the store: before, the gRPC
// server's recovery turned the panic into an error with the engine's locks
// held, and every later ingest and query hung.
func TestIngestPanicReloadsState(t *testing.T) {
	clk := newClock()
	bolt, err := store.OpenBolt(t.TempDir(), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps := &panickingStore{Store: bolt}
	reg := prometheus.NewRegistry()
	e, err := openStore(ps, Options{Now: clk.Now, MaxPending: 1, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	ingest(t, e, at(clk, dg("k1", primary, "/z", 200, okBody()...)))

	ps.panic.Store(true)
	// k2 evicts k1, which closes incomplete and is looked up.
	_, _, err = e.Ingest(ctx, []*shadowdiffv1.ResponseDigest{at(clk, dg("k2", primary, "/z", 200))})
	if err == nil || !strings.Contains(err.Error(), "internal error: simulated bug") {
		t.Fatalf("ingest through a panic: %v", err)
	}
	ps.panic.Store(false)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "shadowdiff_collector_internal_errors_total" {
			counted = mf.Metric[0].GetCounter().GetValue()
		}
	}
	if counted != 1 {
		t.Errorf("internal errors counted: %v, want 1", counted)
	}

	done := make(chan error, 1)
	go func() {
		_, _, err := e.Ingest(ctx, []*shadowdiffv1.ResponseDigest{at(clk, dg("k1", candidate, "/z", 200, okBody()...))})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ingest hung after the panic")
	}
	// The state is the store's: k1 waited for its candidate, k2 was not taken.
	if got := counts(endpointsOf(t, e)["GET /z"]); got != "req=1 cmp=1 skip=0 inc=0(p0 s0 c0) fm=0 dup=0 raw=0 noise=0 reg=0" {
		t.Errorf("after the panic: %s", got)
	}
	if _, err := e.QueryServer().GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: "k2"}); err == nil {
		t.Error("k2 from the refused batch is known")
	}
}
