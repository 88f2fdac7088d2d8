package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

const sessionsEndpoint = "GET /sessions"

// ingestSessions ingests n compared requests to GET /sessions, numbered
// from first, whose bodies key an object by a session id new in every
// response ("sessions.<hex>"): primary and candidate differ by two paths
// never seen before, as well as by "total" when totalDiffers.
func ingestSessions(t *testing.T, e *Engine, clk *clock, first, n int, totalDiffers bool) {
	t.Helper()
	const perBatch = 256
	batch := make([]*shadowdiffv1.ResponseDigest, 0, 2*perBatch)
	for i := first; i < first+n; i++ {
		key := fmt.Sprint("s-", i)
		total := "1"
		if totalDiffers {
			total = "2"
		}
		batch = append(batch,
			at(clk, dg(key, primary, "/sessions", 200, f{fmt.Sprintf("sessions.%08x", 2*i), tStr, sText, "a"}, f{"total", tNum, sInt, "1"})),
			at(clk, dg(key, candidate, "/sessions", 200, f{fmt.Sprintf("sessions.%08x", 2*i+1), tStr, sText, "a"}, f{"total", tNum, sInt, total})))
		if len(batch) == cap(batch) || i == first+n-1 {
			ingest(t, e, batch...)
			batch = batch[:0]
		}
	}
}

// fieldPaths lists the endpoint's fields as ListFields shows them.
func fieldPaths(t *testing.T, e *Engine, endpoint string) map[string]bool {
	t.Helper()
	resp, err := e.QueryServer().ListFields(context.Background(), &shadowdiffv1.ListFieldsRequest{Endpoint: endpoint, IncludeNoise: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, fs := range resp.Fields {
		out[fs.Path] = true
	}
	return out
}

// storedSamples lists the sample references in the store of the
// endpoint's fields under prefix (one per request).
func storedSamples(t *testing.T, e *Engine, endpoint, prefix string) []store.SampleRef {
	t.Helper()
	refs, err := e.st.Samples(store.SampleQuery{Endpoint: endpoint, PathPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

// sampledPaths lists the fields of the endpoint the engine keeps sampling
// state for, and counts the state's entries of every endpoint.
func sampledPaths(e *Engine, endpoint string) (paths map[string]bool, entries int) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	paths = map[string]bool{}
	if s := e.sampled[endpoint]; s != nil {
		for p := range s.byPath {
			paths[p] = true
		}
	}
	for _, s := range e.sampled {
		entries += len(s.byPath)
	}
	return paths, entries
}

// Responses that key an object by an id new in every response fill the
// bucket's field cap; the paths past it are not counted, and they are not
// sampled either: the engine keeps no state for them and the store no
// sample of them (before, 3,000 requests left 6,000 entries of state and
// 3,000 sampled requests next to 4,096 fields).
func TestSamplesOnlyOfCountedFields(t *testing.T) {
	clk := newClock()
	clk.Add(time.Second)
	e := openEngine(t, t.TempDir(), clk, Options{Retention: time.Minute})
	defer e.Close()
	const n = 3000 // 6,000 session paths, in one bucket
	ingestSessions(t, e, clk, 0, n, false)

	fields := fieldPaths(t, e, sessionsEndpoint)
	if len(fields) != maxFieldsPerBucket {
		t.Fatalf("%d fields, want the bucket's cap %d", len(fields), maxFieldsPerBucket)
	}
	refs := storedSamples(t, e, sessionsEndpoint, "")
	if len(refs) == 0 || len(refs) >= n {
		t.Errorf("%d of %d requests stored as samples, want those with counted fields only", len(refs), n)
	}
	for _, r := range refs {
		if !fields[r.Path] {
			t.Fatalf("sample of %s (request %s), a field the bucket did not count", r.Path, r.Key)
		}
	}
	paths, entries := sampledPaths(e, sessionsEndpoint)
	if entries > maxFieldsPerBucket {
		t.Errorf("%d entries of sampling state, want at most the field cap %d", entries, maxFieldsPerBucket)
	}
	for p := range paths {
		if !fields[p] {
			t.Fatalf("sampling state for %s, a field the bucket did not count", p)
		}
	}
}

// The sampling state goes with the endpoints retention drops, and the
// stored samples with it (before, 3,000 requests left 6,000 entries of
// state after retention had emptied the endpoints).
func TestSamplingStateGoesWithRetention(t *testing.T) {
	clk := newClock() // at the start of a minute
	clk.Add(50 * time.Second)
	e := openEngine(t, t.TempDir(), clk, Options{Retention: time.Minute})
	defer e.Close()
	ingestSessions(t, e, clk, 0, 3000, true)
	if _, entries := sampledPaths(e, sessionsEndpoint); entries == 0 || entries > maxFieldsPerBucket {
		t.Fatalf("%d entries of sampling state, want some, at most %d", entries, maxFieldsPerBucket)
	}

	// The bucket ended by the cut: it goes, and the endpoint with it.
	clk.Add(75 * time.Second)
	if err := e.maintain(); err != nil {
		t.Fatal(err)
	}
	if eps := endpointsOf(t, e); len(eps) != 0 {
		t.Fatalf("endpoints after retention: %v", eps)
	}
	if _, entries := sampledPaths(e, sessionsEndpoint); entries != 0 {
		t.Errorf("%d entries of sampling state after retention dropped the endpoint", entries)
	}
	var eps int
	e.rlocked(func() { eps = len(e.sampled) })
	if eps != 0 {
		t.Errorf("sampling state of %d endpoints after retention dropped them", eps)
	}
	if refs := storedSamples(t, e, sessionsEndpoint, ""); len(refs) != 0 {
		t.Errorf("%d samples stored after retention", len(refs))
	}
}

// The sampling state of an endpoint holds at most as many fields as a
// bucket counts, whatever new fields the next buckets count. When it is
// full, the fields without a sample for a minute are forgotten, which
// makes room for a field that starts to differ; Clear forgets the
// endpoint's state.
func TestSamplingStateCappedAndIdleForgotten(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{Retention: time.Hour})
	defer e.Close()
	const maxFields = 64
	e.locked(func() { e.lim.maxFields = maxFields })

	// Three minutes of 100 requests, each with two new session paths: a
	// bucket each, each counting maxFields fields.
	for m := range 3 {
		ingestSessions(t, e, clk, 100*m, 100, false)
		clk.Add(time.Minute)
	}
	paths, entries := sampledPaths(e, sessionsEndpoint)
	// About full: a bucket also counts paths of the comparison with the
	// previous primary (countRepeat), which are not sampled.
	if entries > maxFields || entries < maxFields-2 {
		t.Fatalf("%d entries of sampling state, want the cap %d", entries, maxFields)
	}
	if paths["body.total"] {
		t.Fatal("body.total sampled before it differed")
	}

	// "total" starts to differ, more than a minute after the last sample.
	clk.Add(time.Second)
	ingestSessions(t, e, clk, 300, 1, true)
	if paths, _ := sampledPaths(e, sessionsEndpoint); !paths["body.total"] {
		t.Error("body.total not sampled")
	}
	if refs := storedSamples(t, e, sessionsEndpoint, "body.total"); len(refs) != 1 {
		t.Errorf("%d samples of body.total stored, want 1", len(refs))
	}

	if _, err := e.QueryServer().Clear(context.Background(), &shadowdiffv1.ClearRequest{Endpoint: sessionsEndpoint}); err != nil {
		t.Fatal(err)
	}
	if _, entries := sampledPaths(e, sessionsEndpoint); entries != 0 {
		t.Errorf("%d entries of sampling state after Clear", entries)
	}
}

// Below the cap, neither time nor maintenance forgets what paces a field:
// a field that has its samples takes one per second however long it was
// quiet, and sampling depends on the traffic alone, not on when the
// background loop ran (TestRecyclingChangesNoResult compares two engines).
func TestSamplingStateKeptBelowTheCap(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{SamplesPerField: 2, Retention: time.Hour})
	defer e.Close()
	ingestSessions(t, e, clk, 0, 1, true)
	clk.Add(10 * time.Minute)
	if err := e.maintain(); err != nil {
		t.Fatal(err)
	}
	ingestSessions(t, e, clk, 1, 3, true) // within one second: the second sample, then none
	var keys []string
	for _, r := range storedSamples(t, e, sessionsEndpoint, "body.total") {
		keys = append(keys, r.Key)
	}
	if fmt.Sprint(keys) != "[s-1 s-0]" {
		t.Errorf("samples of body.total: %v, want [s-1 s-0]", keys)
	}
}

// Retention forgets the state of the fields whose samples it deleted,
// while their endpoint stays.
func TestSamplingStateOfFieldsGoesWithRetention(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{Retention: time.Minute})
	defer e.Close()
	ingestSessions(t, e, clk, 0, 100, false)
	clk.Add(2 * time.Minute)
	ingestSessions(t, e, clk, 100, 1, true)
	clk.Add(time.Second)
	if err := e.maintain(); err != nil {
		t.Fatal(err)
	}
	paths, entries := sampledPaths(e, sessionsEndpoint)
	if !paths["body.total"] || entries != 3 {
		t.Errorf("sampling state of %d fields after retention, want body.total and the last request's two: %v", entries, paths)
	}
}

// A field's definite samples are paced apart from its others: a field
// that has its samples without a secondary still takes a definite one.
func TestSamplesDefiniteAndNotPacedApart(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{SamplesPerField: 1})
	defer e.Close()
	total := func(v string) f { return f{"total", tNum, sInt, v} }
	ingest(t, e, at(clk, dg("k0", primary, "/t", 200, total("1"))), at(clk, dg("k0", candidate, "/t", 200, total("2"))))
	ingest(t, e, at(clk, dg("k1", primary, "/t", 200, total("1"))), at(clk, dg("k1", secondary, "/t", 200, total("1"))),
		at(clk, dg("k1", candidate, "/t", 200, total("2"))))
	refs, err := e.st.Samples(store.SampleQuery{Endpoint: "GET /t", PathPrefix: "body.total"})
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 || (!refs[0].Definite && !refs[1].Definite) {
		t.Errorf("samples %+v, want k0 and k1 (definite)", refs)
	}
}
