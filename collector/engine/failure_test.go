package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

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
