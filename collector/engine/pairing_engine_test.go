package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func okBody() []f { return []f{{"a", tStr, sText, "x"}} }

func TestEnginePairsAcrossArrivalOrders(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	orders := [][]shadowdiffv1.Role{
		{primary, secondary, candidate}, {candidate, secondary, primary}, {secondary, candidate, primary},
	}
	for i, order := range orders {
		key := fmt.Sprint("k", i)
		for _, role := range order {
			clk.Add(time.Second) // within the 10 s window
			ingest(t, e, at(clk, dg(key, role, "/a", 200, okBody()...)))
		}
	}
	// Every triple completed on its last digest: no flush needed.
	if got := counts(endpointsOf(t, e)["GET /a"]); got != "req=3 cmp=3 skip=0 inc=0(p0 s0 c0) fm=0 dup=0 raw=0 noise=0 reg=0" {
		t.Errorf("after triples: %s", got)
	}
	// The endpoint has a secondary now: a pair waits for it until the window ends.
	ingest(t, e, at(clk, dg("pair", primary, "/a", 200, okBody()...)), at(clk, dg("pair", candidate, "/a", 200, okBody()...)))
	if err := e.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := endpointsOf(t, e)["GET /a"].Compared; got != 3 {
		t.Fatalf("pair compared before its window ended: %d", got)
	}
	clk.Add(10 * time.Second)
	if err := e.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := counts(endpointsOf(t, e)["GET /a"]); got != "req=4 cmp=4 skip=0 inc=0(p0 s1 c0) fm=0 dup=0 raw=0 noise=0 reg=0" {
		t.Errorf("after the pair's window: %s", got)
	}
}

func TestEngineWithoutSecondaryComparesPairsAtOnce(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	ingest(t, e, at(clk, dg("k", candidate, "/b", 200, okBody()...)), at(clk, dg("k", primary, "/b", 500, okBody()...)))
	s := endpointsOf(t, e)["GET /b"]
	if got := counts(s); got != "req=1 cmp=1 skip=0 inc=0(p0 s0 c0) fm=0 dup=0 raw=1 noise=0 reg=1" || s.HasSecondary {
		t.Errorf("pair without secondary: %s (has secondary %v)", got, s.HasSecondary)
	}
}

func TestEngineIncompleteAtWindowEnd(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	ingest(t, e, at(clk, dg("p-only", primary, "/c", 200)), at(clk, dg("c-only", candidate, "/c", 200)))
	noResp := at(clk, dg("no-resp", candidate, "/c", 0))
	noResp.Skip = shadowdiffv1.SkipReason_SKIP_REASON_NO_RESPONSE
	ingest(t, e, at(clk, dg("no-resp", primary, "/c", 200)), noResp)
	endWindow(t, e, clk)
	if got := counts(endpointsOf(t, e)["GET /c"]); got != "req=3 cmp=0 skip=0 inc=3(p1 s0 c2) fm=0 dup=0 raw=0 noise=0 reg=0" {
		t.Errorf("incomplete: %s", got)
	}
	rec, err := e.QueryServer().GetRequest(context.Background(), &shadowdiffv1.GetRequestRequest{PairingKey: "no-resp"})
	if err != nil || !strings.Contains(rec.NotComparedReason, "candidate had no response") {
		t.Errorf("record of no-resp = %v, %v", rec.GetNotComparedReason(), err)
	}
}

func TestEngineDuplicatesFirstWins(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	ingest(t, e, at(clk, dg("k", primary, "/d", 200, okBody()...)))
	ingest(t, e, at(clk, dg("k", primary, "/d", 503, okBody()...))) // retry with another answer
	ingest(t, e, at(clk, dg("k", candidate, "/d", 200, okBody()...)))
	ingest(t, e, at(clk, dg("k", candidate, "/d", 200, okBody()...))) // retry after completion
	if got := counts(endpointsOf(t, e)["GET /d"]); got != "req=1 cmp=1 skip=0 inc=0(p0 s0 c0) fm=0 dup=2 raw=0 noise=0 reg=0" {
		t.Errorf("duplicates: %s (the first primary, status 200, must win)", got)
	}
}

func TestEngineFingerprintMismatchAndSideEffects(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	p := at(clk, dg("m", primary, "/e", 200))
	c := at(clk, dg("m", candidate, "/e", 200))
	c.Request.QueryHash = 99
	ingest(t, e, p, c)

	post := func(role shadowdiffv1.Role, skip bool) *shadowdiffv1.ResponseDigest {
		d := at(clk, dg("w", role, "/e", 201))
		d.Endpoint.Method, d.Request.Method = "POST", "POST"
		if skip {
			d.Status, d.Skip = 0, shadowdiffv1.SkipReason_SKIP_REASON_SIDE_EFFECT
		}
		return d
	}
	ingest(t, e, post(primary, false), post(candidate, true))
	eps := endpointsOf(t, e)
	if got := counts(eps["GET /e"]); got != "req=1 cmp=0 skip=0 inc=0(p0 s0 c0) fm=1 dup=0 raw=0 noise=0 reg=0" {
		t.Errorf("mismatch: %s", got)
	}
	if got := counts(eps["POST /e"]); got != "req=1 cmp=0 skip=1 inc=0(p0 s0 c0) fm=0 dup=0 raw=0 noise=0 reg=0" {
		t.Errorf("side effect: %s", got)
	}
	rec, err := e.QueryServer().GetRequest(context.Background(), &shadowdiffv1.GetRequestRequest{PairingKey: "m"})
	if err != nil || !strings.Contains(rec.NotComparedReason, "query of candidate differs") || len(rec.Differences) != 0 {
		t.Errorf("mismatch record = %v %v", rec, err)
	}
}

// A blocked shadow answers at the request headers and never sees the body,
// so its fingerprint has no body hash: that is a skip, not a mismatch.
func TestEngineSideEffectIgnoresUnseenBody(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	post := func(role shadowdiffv1.Role) *shadowdiffv1.ResponseDigest {
		d := at(clk, dg("b", role, "/orders", 201))
		d.Endpoint.Method, d.Request.Method = "POST", "POST"
		if role == primary {
			d.Request.BodyHash, d.Request.BodySize = 77, 9
		} else {
			d.Status, d.Skip = 0, shadowdiffv1.SkipReason_SKIP_REASON_SIDE_EFFECT
		}
		return d
	}
	ingest(t, e, post(primary), post(secondary), post(candidate))
	ep := endpointsOf(t, e)["POST /orders"]
	if got := counts(ep); got != "req=1 cmp=0 skip=1 inc=0(p0 s0 c0) fm=0 dup=0 raw=0 noise=0 reg=0" {
		t.Errorf("side effect with a request body: %s", got)
	}
	if ep.Verdict != shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA || !strings.HasPrefix(ep.VerdictReason, "side effects only") {
		t.Errorf("verdict of a side-effect-only endpoint: %v: %s", ep.Verdict, ep.VerdictReason)
	}
}

func TestEngineMaxPendingBound(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{MaxPending: 2})
	defer e.Close()
	for i := range 5 {
		clk.Add(time.Millisecond)
		ingest(t, e, at(clk, dg(fmt.Sprint("k", i), primary, "/f", 200)))
	}
	if got := counts(endpointsOf(t, e)["GET /f"]); got != "req=3 cmp=0 skip=0 inc=3(p0 s0 c3) fm=0 dup=0 raw=0 noise=0 reg=0" {
		t.Errorf("evicted: %s", got)
	}
	e.mu.RLock()
	n := e.pairer.len()
	e.mu.RUnlock()
	if n != 2 {
		t.Errorf("pending = %d, want 2", n)
	}
}

func TestEngineRejectsInvalidDigests(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	bad := dg("", primary, "/g", 200)
	worse := dg("k", candidate, "no-slash", 200)
	n, rej, err := e.Ingest(context.Background(), []*shadowdiffv1.ResponseDigest{bad, dg("k", primary, "/g", 200), worse, nil})
	if err != nil || n != 1 || len(rej) != 3 {
		t.Fatalf("accepted %d, rejected %v, err %v", n, rej, err)
	}
	for i, want := range map[int]string{0: "pairing_key", 1: "path", 2: "digest"} {
		if rej[i].Index != []uint32{0, 2, 3}[i] || !strings.HasPrefix(rej[i].Reason, want) {
			t.Errorf("rejection %d = %v, want index %d reason %s...", i, rej[i], []uint32{0, 2, 3}[i], want)
		}
	}
}

// Pending digests and results survive a restart; a request started before
// it completes after it.
func TestEngineRestartKeepsPendingAndResults(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	e := openEngine(t, dir, clk, Options{})
	ingest(t, e, at(clk, dg("done", primary, "/h", 200, okBody()...)), at(clk, dg("done", secondary, "/h", 200, okBody()...)),
		at(clk, dg("done", candidate, "/h", 200, f{"a", tStr, sText, "changed"})))
	ingest(t, e, at(clk, dg("open", primary, "/h", 200, okBody()...)), at(clk, dg("open", secondary, "/h", 200, okBody()...)))
	ingest(t, e, at(clk, dg("lonely", primary, "/h", 200, okBody()...)))
	rule, err := e.QueryServer().CreateNoiseRule(context.Background(), &shadowdiffv1.CreateNoiseRuleRequest{Rule: &shadowdiffv1.NoiseRule{PathPrefix: "headers.date"}})
	if err != nil {
		t.Fatal(err)
	}
	before := counts(endpointsOf(t, e)["GET /h"])
	pend, err := e.QueryServer().GetRequest(context.Background(), &shadowdiffv1.GetRequestRequest{PairingKey: "open"})
	if err != nil || !strings.HasPrefix(pend.NotComparedReason, "pending: waiting for candidate") || len(pend.Primary.GetBody().GetFields()) != 1 || len(pend.Secondary.GetBody().GetFields()) != 1 {
		t.Errorf("pending request = %v %v", pend, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	clk.Add(2 * time.Second)
	e = openEngine(t, dir, clk, Options{})
	defer e.Close()
	if got := counts(endpointsOf(t, e)["GET /h"]); got != before {
		t.Errorf("after restart %s, before %s", got, before)
	}
	ingest(t, e, at(clk, dg("open", candidate, "/h", 200, okBody()...)))
	clk.Add(10 * time.Second)
	if err := e.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := counts(endpointsOf(t, e)["GET /h"]); got != "req=3 cmp=2 skip=0 inc=1(p0 s1 c1) fm=0 dup=0 raw=1 noise=0 reg=1" {
		t.Errorf("after completing across the restart: %s", got)
	}
	rules, err := e.QueryServer().ListNoiseRules(context.Background(), &shadowdiffv1.ListNoiseRulesRequest{})
	if err != nil || len(rules.Rules) != 1 || rules.Rules[0].Id != rule.Id {
		t.Errorf("rules after restart = %v %v", rules, err)
	}
	rec, err := e.QueryServer().GetRequest(context.Background(), &shadowdiffv1.GetRequestRequest{PairingKey: "done"})
	if err != nil || len(rec.Differences) != 1 || rec.Candidate == nil {
		t.Errorf("record after restart = %v %v", rec, err)
	}
}

// A secondary that arrives after the pair closed still teaches the
// endpoint to wait for secondaries.
func TestEngineLearnsToWaitForSecondary(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	ingest(t, e, at(clk, dg("k1", primary, "/s", 200)), at(clk, dg("k1", candidate, "/s", 200)))
	ingest(t, e, at(clk, dg("k1", secondary, "/s", 200))) // late
	ingest(t, e, at(clk, dg("k2", primary, "/s", 200)), at(clk, dg("k2", candidate, "/s", 200)))
	if got := endpointsOf(t, e)["GET /s"].Compared; got != 1 {
		t.Fatalf("k2 compared without waiting for its secondary: %d compared", got)
	}
	ingest(t, e, at(clk, dg("k2", secondary, "/s", 200)))
	s := endpointsOf(t, e)["GET /s"]
	if s.Compared != 2 || !s.HasSecondary {
		t.Errorf("after k2's secondary: %s, has secondary %v", counts(s), s.HasSecondary)
	}
}

// acrossRestart runs before and after on one engine, once as they are and
// once with the engine closed and opened again between them: what after
// checks must not depend on the restart.
func acrossRestart(t *testing.T, before, after func(t *testing.T, e *Engine, clk *clock)) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			dir, clk := t.TempDir(), newClock()
			e := openEngine(t, dir, clk, Options{})
			before(t, e, clk)
			if restart {
				e = reopen(t, e, dir, clk, Options{})
			}
			defer e.Close()
			after(t, e, clk)
		})
	}
}

// A retry of a digest whose request was compared just before a restart is
// a duplicate, as it is without a restart (the recent keys): it opened a
// new request, which expired incomplete, replaced the record and counted
// the request twice.
func TestRetryOfRecordedRequestAcrossRestart(t *testing.T) {
	acrossRestart(t, func(t *testing.T, e *Engine, clk *clock) {
		ingest(t, e, at(clk, dg("k", primary, "/r", 200, okBody()...)), at(clk, dg("k", candidate, "/r", 200, okBody()...)))
	}, func(t *testing.T, e *Engine, clk *clock) {
		clk.Add(time.Second)
		ingest(t, e, at(clk, dg("k", primary, "/r", 200, okBody()...))) // the filter retries
		endWindow(t, e, clk)
		if got := counts(endpointsOf(t, e)["GET /r"]); got != "req=1 cmp=1 skip=0 inc=0(p0 s0 c0) fm=0 dup=1 raw=0 noise=0 reg=0" {
			t.Errorf("%s, want the retry counted as a duplicate", got)
		}
		rec, err := e.QueryServer().GetRequest(context.Background(), &shadowdiffv1.GetRequestRequest{PairingKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		if rec.GetNotComparedReason() != "" {
			t.Errorf("record of k replaced: %q", rec.GetNotComparedReason())
		}
	})
}

// A duplicate of a pending digest, acknowledged before a restart, is still
// counted once the request closes after it (the count was kept with the
// request, in memory).
func TestDuplicateOfPendingDigestCountedAcrossRestart(t *testing.T) {
	acrossRestart(t, func(t *testing.T, e *Engine, clk *clock) {
		ingest(t, e, at(clk, dg("k", primary, "/q", 200, okBody()...)))
		ingest(t, e, at(clk, dg("k", primary, "/q", 200, okBody()...))) // retry: duplicate
	}, func(t *testing.T, e *Engine, clk *clock) {
		ingest(t, e, at(clk, dg("k", candidate, "/q", 200, okBody()...)))
		if got := counts(endpointsOf(t, e)["GET /q"]); got != "req=1 cmp=1 skip=0 inc=0(p0 s0 c0) fm=0 dup=1 raw=0 noise=0 reg=0" {
			t.Errorf("%s, want dup=1", got)
		}
	})
}

// An endpoint that learnt to wait for secondaries from a secondary still
// pending waits after a restart too (only stored buckets taught it).
func TestPendingSecondaryKeepsEndpointWaitingAcrossRestart(t *testing.T) {
	acrossRestart(t, func(t *testing.T, e *Engine, clk *clock) {
		ingest(t, e, at(clk, dg("a", secondary, "/s", 200, okBody()...))) // first secondary ever, pending
	}, func(t *testing.T, e *Engine, clk *clock) {
		ingest(t, e, at(clk, dg("b", primary, "/s", 200, okBody()...)), at(clk, dg("b", candidate, "/s", 200, okBody()...)))
		if got := endpointsOf(t, e)["GET /s"].GetCompared(); got != 0 {
			t.Errorf("b compared without waiting for its secondary")
		}
	})
}

// The same without a restart, once MaxPending other requests closed after
// k: the recent keys are bounded by MaxPending.
func TestRetryOfRecordedRequestPastRecentBound(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{MaxPending: 2})
	defer e.Close()
	ingest(t, e, at(clk, dg("k", primary, "/r", 200, okBody()...)), at(clk, dg("k", candidate, "/r", 200, okBody()...)))
	for _, o := range []string{"o1", "o2"} {
		ingest(t, e, at(clk, dg(o, primary, "/r", 200, okBody()...)), at(clk, dg(o, candidate, "/r", 200, okBody()...)))
	}
	clk.Add(time.Second)
	ingest(t, e, at(clk, dg("k", primary, "/r", 200, okBody()...))) // retry, 1 s later
	endWindow(t, e, clk)
	got := counts(endpointsOf(t, e)["GET /r"])
	rec, err := e.QueryServer().GetRequest(context.Background(), &shadowdiffv1.GetRequestRequest{PairingKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetNotComparedReason() != "" {
		t.Errorf("record of compared request k replaced by %q", rec.GetNotComparedReason())
	}
	if got != "req=3 cmp=3 skip=0 inc=0(p0 s0 c0) fm=0 dup=1 raw=0 noise=0 reg=0" {
		t.Errorf("%s, want three compared requests and the retry counted as a duplicate", got)
	}
}

// Both digests of a compared request resent after a restart (stored, but
// not acknowledged when the collector stopped) are duplicates, as without
// one: the keys of recent records are remembered again at load. They
// completed the request a second time, rewrote its record and counted it
// twice.
func TestCompleteRetryAcrossRestartIsDuplicate(t *testing.T) {
	acrossRestart(t, func(t *testing.T, e *Engine, clk *clock) {
		ingest(t, e, at(clk, dg("k", primary, "/r", 200, okBody()...)), at(clk, dg("k", candidate, "/r", 200, okBody()...)))
	}, func(t *testing.T, e *Engine, clk *clock) {
		clk.Add(time.Second)
		ingest(t, e, at(clk, dg("k", primary, "/r", 200, okBody()...)), at(clk, dg("k", candidate, "/r", 200, okBody()...)))
		endWindow(t, e, clk)
		if got, want := counts(endpointsOf(t, e)["GET /r"]), "req=1 cmp=1 skip=0 inc=0(p0 s0 c0) fm=0 dup=2 raw=0 noise=0 reg=0"; got != want {
			t.Errorf("%s, want %s", got, want)
		}
		// Remembered for recentWindows windows: after them the key is
		// forgotten.
		clk.Add(recentWindows * 10 * time.Second)
		if err := e.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.mu.RLock()
		_, remembered := e.pairer.remembered("k")
		e.mu.RUnlock()
		if remembered {
			t.Error("k still remembered after recentWindows windows")
		}
	})
}

// A record dated ahead by a sidecar's clock is not remembered after a
// restart until its own time plus the windows: it kept every key closed
// after it in the recent keys (their expiry stops at the first one not
// expired) for as long as the clock was ahead.
func TestRecentKeyOfFutureRecordDoesNotBlockExpiry(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	e := openEngine(t, dir, clk, Options{})
	ingestDated(t, e, clk, "f", "/r", 30*time.Minute)
	e = reopen(t, e, dir, clk, Options{})
	defer e.Close()
	for i := 0; i < 100; i++ {
		clk.Add(time.Second)
		k := fmt.Sprint("n", i)
		ingest(t, e, at(clk, dg(k, primary, "/r", 200, okBody()...)), at(clk, dg(k, candidate, "/r", 200, okBody()...)))
	}
	clk.Add(recentWindows*10*time.Second + time.Second)
	if err := e.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.mu.RLock()
	n := len(e.pairer.recent)
	_, f := e.pairer.remembered("f")
	e.mu.RUnlock()
	if f {
		t.Errorf("f still remembered %v after restart (recentWindows windows = 50s)", recentWindows*10*time.Second+100*time.Second)
	}
	if n > 1 {
		t.Errorf("%d keys in the recent map, all expired (want at most f)", n)
	}
}

// Records dated ahead by a sidecar's clock do not take the places of the
// recent ones within MaxPending at load.
func TestFutureRecordsDoNotCrowdOutRecentKeys(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	opts := Options{MaxPending: 3}
	e := openEngine(t, dir, clk, opts)
	for i := 0; i < 3; i++ {
		ingestDated(t, e, clk, fmt.Sprint("f", i), "/f", 20*time.Minute)
	}
	ingest(t, e, at(clk, dg("k", primary, "/r", 200, okBody()...)), at(clk, dg("k", candidate, "/r", 200, okBody()...)))
	e = reopen(t, e, dir, clk, opts)
	defer e.Close()
	clk.Add(time.Second)
	ingest(t, e, at(clk, dg("k", primary, "/r", 200, okBody()...)), at(clk, dg("k", candidate, "/r", 200, okBody()...)))
	endWindow(t, e, clk)
	if got, want := counts(endpointsOf(t, e)["GET /r"]), "req=1 cmp=1 skip=0 inc=0(p0 s0 c0) fm=0 dup=2 raw=0 noise=0 reg=0"; got != want {
		t.Errorf("%s, want %s", got, want)
	}
}

// A record dated within a window ahead (a sidecar clock slightly ahead) is
// remembered after a restart as closed now, for recentWindows windows, not
// from its own later time.
func TestRecentKeyOfRecordAheadIsRememberedFromNow(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	e := openEngine(t, dir, clk, Options{})
	ingestDated(t, e, clk, "f", "/r", 5*time.Second) // half a window ahead
	e = reopen(t, e, dir, clk, Options{})
	defer e.Close()
	remembered := func() bool {
		e.mu.RLock()
		defer e.mu.RUnlock()
		_, ok := e.pairer.remembered("f")
		return ok
	}
	if !remembered() {
		t.Fatal("f not remembered after the restart")
	}
	clk.Add(recentWindows*10*time.Second + time.Second)
	if err := e.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if remembered() {
		t.Error("f still remembered recentWindows windows after the restart")
	}
}

// endWindow moves past the test engine's pair window (10 s) and flushes,
// so the requests still pending close.
func endWindow(t *testing.T, e *Engine, clk *clock) {
	t.Helper()
	clk.Add(11 * time.Second)
	if err := e.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// ingestDated ingests a primary and a candidate of key that started ahead
// of the collector's clock by the sidecars' clocks.
func ingestDated(t *testing.T, e *Engine, clk *clock, key, path string, ahead time.Duration) {
	t.Helper()
	p, c := dg(key, primary, path, 200, okBody()...), dg(key, candidate, path, 200, okBody()...)
	p.StartUnixNanos = clk.Now().Add(ahead).UnixNano()
	c.StartUnixNanos = p.StartUnixNanos
	ingest(t, e, p, c)
}

// reopen closes e and opens the engine of dir again.
func reopen(t *testing.T, e *Engine, dir string, clk *clock, opts Options) *Engine {
	t.Helper()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return openEngine(t, dir, clk, opts)
}

// A side effect's secondary, answered by its filter, is waited for like a
// compared request's: it counted as late after the primary and candidate
// had closed the request, so a healthy demo set off alerts on late digests.
func TestSideEffectWaitsForItsSecondary(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	post := func(key string, role shadowdiffv1.Role) *shadowdiffv1.ResponseDigest {
		d := at(clk, dg(key, role, "/orders", 201))
		d.Endpoint.Method, d.Request.Method = "POST", "POST"
		if role != primary {
			d.Status, d.Skip = 0, shadowdiffv1.SkipReason_SKIP_REASON_SIDE_EFFECT
		}
		return d
	}
	for i := range 3 {
		k := fmt.Sprint("w", i)
		ingest(t, e, post(k, primary), post(k, candidate))
		ingest(t, e, post(k, secondary))
	}
	var m dto.Metric
	if err := e.met.digests.WithLabelValues("secondary", "late").Write(&m); err != nil {
		t.Fatal(err)
	}
	if late := m.GetCounter().GetValue(); late > 1 {
		t.Errorf("%v secondaries of side effects counted late, want at most the first (before any secondary was seen)", late)
	}
	if got := counts(endpointsOf(t, e)["POST /orders"]); got != "req=3 cmp=0 skip=3 inc=0(p0 s0 c0) fm=0 dup=0 raw=0 noise=0 reg=0" {
		t.Errorf("side effects: %s", got)
	}
}

// A retry of a request closed in the same call as the rule its path
// teaches is counted where the request is, the learned endpoint (it was
// counted in a literal endpoint of its own that held nothing else); so is
// one in the same call as its request, and one after a restart, which
// does not make the remembered keys teach rules.
func TestRetryCountedWhereItsRequestIs(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			dir, clk := t.TempDir(), newClock()
			opts := Options{AutoTemplateThreshold: 3}
			e := openEngine(t, dir, clk, opts)
			var ds []*shadowdiffv1.ResponseDigest
			for i, name := range []string{"alice", "bob", "carol", "dave"} {
				for _, role := range []shadowdiffv1.Role{primary, candidate} {
					ds = append(ds, at(clk, dg(fmt.Sprint("k", i), role, "/users/"+name+"/cart", 200, okBody()...)))
				}
			}
			ds = append(ds, at(clk, dg("k0", primary, "/users/alice/cart", 200, okBody()...))) // in the same call
			ingest(t, e, ds...)
			if restart {
				e = reopen(t, e, dir, clk, opts)
			}
			defer e.Close()
			clk.Add(time.Second)
			ingest(t, e, at(clk, dg("k1", candidate, "/users/bob/cart", 200, okBody()...))) // later
			eps := endpointsOf(t, e)
			if got := counts(eps["GET /users/{slug}/cart"]); got != "req=4 cmp=4 skip=0 inc=0(p0 s0 c0) fm=0 dup=2 raw=0 noise=0 reg=0" {
				t.Errorf("learned endpoint: %s, want the 4 requests and both retries", got)
			}
			if len(eps) != 1 {
				t.Errorf("endpoints %v, want the learned one only", slices.Collect(maps.Keys(eps)))
			}
		})
	}
}

// Remembered keys restored at a start do not teach the path learner: only
// requests that arrive do.
func TestRestartDoesNotTeachRules(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	opts := Options{AutoTemplateThreshold: 3}
	e := openEngine(t, dir, clk, opts)
	for i, name := range []string{"alice", "bob", "carol"} {
		ingest(t, e, at(clk, dg(fmt.Sprint("k", i), primary, "/users/"+name+"/cart", 200, okBody()...)),
			at(clk, dg(fmt.Sprint("k", i), candidate, "/users/"+name+"/cart", 200, okBody()...)))
	}
	e = reopen(t, e, dir, clk, opts)
	defer e.Close()
	ingest(t, e, at(clk, dg("k3", primary, "/users/dave/cart", 200, okBody()...)),
		at(clk, dg("k3", candidate, "/users/dave/cart", 200, okBody()...)))
	rules, err := e.QueryServer().ListEndpointRules(context.Background(), &shadowdiffv1.ListEndpointRulesRequest{})
	if err != nil || len(rules.Rules) != 0 {
		t.Errorf("rules after a restart and one more value: %v, %v; want none (the learner starts afresh)", rules, err)
	}
}
