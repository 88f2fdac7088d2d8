package engine

import (
	"fmt"
	"testing"
	"time"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func needTriple(r *pendingReq) bool { return r.has(primary) && r.has(secondary) && r.has(candidate) }

// newTestPairer is a pairer of 30 s windows for triples.
func newTestPairer(maxPending int) *pairer { return newPairer(30*time.Second, maxPending, needTriple) }

func TestPairerAllArrivalOrders(t *testing.T) {
	t0 := time.Unix(1000, 0)
	orders := [][]shadowdiffv1.Role{
		{primary, secondary, candidate}, {primary, candidate, secondary}, {secondary, primary, candidate},
		{secondary, candidate, primary}, {candidate, primary, secondary}, {candidate, secondary, primary},
	}
	for _, order := range orders {
		p := newTestPairer(100)
		for i, role := range order {
			res, r, closed := p.offer(dg("k", role, "/x", 200), t0.Add(time.Duration(i)*time.Second), nil)
			last := i == len(order)-1
			if (res == offerCompleted) != last || (len(closed) == 1) != last {
				t.Fatalf("order %v step %d: result %v closed %d", order, i, res, len(closed))
			}
			if last && (closed[0].reason != closedComplete || !needTriple(r) || !r.arrival.Equal(t0)) {
				t.Errorf("order %v: closed %+v", order, closed[0])
			}
		}
		if p.len() != 0 {
			t.Errorf("order %v: %d still pending", order, p.len())
		}
	}
}

func TestPairerWindowExpiry(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newTestPairer(100)
	p.offer(dg("a", primary, "/x", 200), t0, nil)
	p.offer(dg("a", candidate, "/x", 200), t0.Add(5*time.Second), nil)
	p.offer(dg("b", candidate, "/x", 200), t0.Add(10*time.Second), nil)
	if next, ok := p.nextExpiry(); !ok || !next.Equal(t0.Add(30*time.Second)) {
		t.Errorf("next expiry = %v %v", next, ok)
	}
	if closed := p.expire(t0.Add(29*time.Second), nil); len(closed) != 0 {
		t.Fatalf("expired early: %v", closed)
	}
	closed := p.expire(t0.Add(30*time.Second), nil)
	if len(closed) != 1 || closed[0].req.key != "a" || closed[0].reason != closedExpired || !closed[0].req.has(candidate) {
		t.Fatalf("expired at window end = %+v", closed)
	}
	closed = p.expire(t0.Add(time.Hour), nil)
	if len(closed) != 1 || closed[0].req.key != "b" {
		t.Fatalf("second expiry = %+v", closed)
	}
	// After its window, the recent-key memory is gone too: a new digest starts a new request.
	if res, _, _ := p.offer(dg("a", primary, "/x", 200), t0.Add(2*time.Hour), nil); res != offerPending {
		t.Errorf("reused key = %v, want pending", res)
	}
}

func TestPairerDuplicatesFirstWins(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newTestPairer(100)
	first := dg("k", primary, "/x", 200)
	p.offer(first, t0, nil)
	if res, r, _ := p.offer(dg("k", primary, "/x", 500), t0, nil); res != offerDuplicate || r.digests[primary] != first {
		t.Fatalf("duplicate = %v", res)
	}
	p.offer(dg("k", secondary, "/x", 200), t0, nil)
	res, r, _ := p.offer(dg("k", candidate, "/x", 200), t0, nil)
	if res != offerCompleted || r.digests[primary].Status != 200 {
		t.Fatalf("completion = %v, primary %v", res, r.digests[primary])
	}
	// Retries after completion are duplicates, not new requests.
	if res, _, _ := p.offer(dg("k", candidate, "/x", 200), t0.Add(time.Second), nil); res != offerDuplicate {
		t.Errorf("retry after completion = %v, want duplicate", res)
	}
	// A role that was missing when the window closed arrives late.
	p.offer(dg("z", primary, "/x", 200), t0, nil)
	p.expire(t0.Add(30*time.Second), nil)
	if res, _, _ := p.offer(dg("z", candidate, "/x", 200), t0.Add(31*time.Second), nil); res != offerLate {
		t.Errorf("late candidate = %v, want late", res)
	}
	// Even several windows late (a collector that was slow to read), it is
	// not taken for a new request.
	p.offer(dg("y", primary, "/x", 200), t0, nil)
	p.expire(t0.Add(30*time.Second), nil)
	p.expire(t0.Add(120*time.Second), nil)
	if res, _, _ := p.offer(dg("y", candidate, "/x", 200), t0.Add(121*time.Second), nil); res != offerLate {
		t.Errorf("candidate 3 windows late = %v, want late", res)
	}
}

func TestPairerMaxPendingEvictsOldest(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newTestPairer(3)
	var closed []closedReq
	for i := range 5 {
		_, _, closed = p.offer(dg(fmt.Sprint("k", i), primary, "/x", 200), t0.Add(time.Duration(i)*time.Millisecond), closed)
	}
	if p.len() != 3 || len(closed) != 2 || closed[0].req.key != "k0" || closed[1].req.key != "k1" || closed[0].reason != closedEvicted {
		t.Fatalf("pending %d, closed %+v", p.len(), closed)
	}
}

func TestPairerRestore(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newTestPairer(100)
	if p.restore(dg("k", candidate, "/x", 200), t0.Add(time.Second)) == nil || p.restore(dg("k", primary, "/x", 200), t0) == nil {
		t.Fatal("restore refused")
	}
	if p.restore(dg("k", primary, "/x", 200), t0) != nil {
		t.Error("restored a second primary")
	}
	if next, _ := p.nextExpiry(); !next.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("window after restore ends %v, want from the earliest arrival", next)
	}
	res, r, _ := p.offer(dg("k", secondary, "/x", 200), t0.Add(2*time.Second), nil)
	if res != offerCompleted || !needTriple(r) {
		t.Errorf("restored request did not complete: %v", res)
	}
}

// A closed request is remembered with the endpoint the engine counted it
// in, without the route name (the digest's own string).
func TestRecentKeepsTheEndpointOnly(t *testing.T) {
	p := newTestPairer(100)
	t0 := time.Unix(1000, 0)
	for _, role := range []shadowdiffv1.Role{primary, secondary, candidate} {
		p.offer(dg("k1", role, "/orders/42", 200), t0, nil)
	}
	if rec, ok := p.remembered("k1"); !ok || rec.endpoint != (endpointInfo{}) {
		t.Fatalf("closed request remembered as %+v, %v; want no endpoint before it is set", rec, ok)
	}
	info := endpointInfo{key: "GET /orders/{id}", method: "GET", pathTemplate: "/orders/{id}", routeName: "orders"}
	p.setEndpoint("k1", info)
	p.setEndpoint("k2", info) // not remembered: nothing to set
	rec, _ := p.remembered("k1")
	info.routeName = ""
	if rec.endpoint != info || !rec.roles[primary] || !rec.roles[candidate] {
		t.Errorf("remembered %+v, want endpoint %+v and the three roles", rec, info)
	}
	if _, ok := p.remembered("k2"); ok {
		t.Error("setEndpoint remembered a key")
	}
	if res, dup, _ := p.offer(dg("k1", primary, "/orders/42", 200), t0.Add(time.Second), nil); res != offerDuplicate || *dup.closedAs != info {
		t.Errorf("retry of a closed request: %v, %+v", res, dup)
	}
}
