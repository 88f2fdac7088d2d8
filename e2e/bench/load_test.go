package bench

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/traffic"
)

// recorder is a test server that counts the paths it gets, answers 500 on
// /fail and holds every answer for delay.
type recorder struct {
	delay time.Duration
	mu    sync.Mutex
	paths map[string]int
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.paths[req.URL.Path]++
	r.mu.Unlock()
	time.Sleep(r.delay)
	if req.URL.Path == "/fail" {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Write([]byte("ok"))
}

func newTarget(t *testing.T, delay time.Duration, paths ...string) (Target, *recorder) {
	t.Helper()
	rec := &recorder{delay: delay, paths: map[string]int{}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	var reqs []traffic.Request
	for _, p := range paths {
		reqs = append(reqs, traffic.Request{Method: http.MethodGet, Path: p})
	}
	return Target{Client: NewClient(10 * time.Second), Base: srv.URL, Requests: reqs}, rec
}

func TestOpenLoopSendsRateTimesDurationInTurn(t *testing.T) {
	const delay = 5 * time.Millisecond
	tg, rec := newTarget(t, delay, "/a", "/b", "/fail")
	run, err := OpenLoop(context.Background(), tg, 200, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Samples) != 60 {
		t.Fatalf("%d samples, want 60 (200/s for 0.3 s)", len(run.Samples))
	}
	if rec.paths["/a"] != 20 || rec.paths["/b"] != 20 || rec.paths["/fail"] != 20 {
		t.Errorf("server saw %v, want 20 of each path", rec.paths)
	}
	if run.Failed() != 20 {
		t.Errorf("Failed() = %d, want the 20 answers with status 500", run.Failed())
	}
	ls := run.Latencies()
	if len(ls) != 40 {
		t.Fatalf("%d latencies, want 40 (failures excluded)", len(ls))
	}
	// Latency counts from when the request was due, before it was sent.
	if ls[0] < delay {
		t.Errorf("smallest latency %s is below the server's own delay %s", ls[0], delay)
	}
	for i, s := range run.Samples {
		want := 200
		if i%3 == 2 {
			want = 500
		}
		if s.Err != nil || s.Status != want {
			t.Errorf("sample %d: status %d err %v, want %d", i, s.Status, s.Err, want)
		}
	}
}

func TestOpenLoopStopsWithTheContext(t *testing.T) {
	tg, rec := newTarget(t, 0, "/a")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	run, err := OpenLoop(ctx, tg, 100, time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(run.Samples) != 0 || rec.paths["/a"] != 0 {
		t.Errorf("%d samples, %d requests after cancel", len(run.Samples), rec.paths["/a"])
	}
}

func TestClosedLoopAnswersEveryRequestItSent(t *testing.T) {
	tg, rec := newTarget(t, time.Millisecond, "/a", "/b")
	run, err := ClosedLoop(context.Background(), tg, 4, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Samples) == 0 || run.Failed() != 0 {
		t.Fatalf("%d samples, %d failed", len(run.Samples), run.Failed())
	}
	if got := rec.paths["/a"] + rec.paths["/b"]; got != len(run.Samples) {
		t.Errorf("server saw %d requests, run has %d samples", got, len(run.Samples))
	}
	if want := float64(len(run.Samples)) / run.Elapsed.Seconds(); run.Throughput() != want {
		t.Errorf("Throughput() = %g, want %g", run.Throughput(), want)
	}
}

func TestLoadRejectsEmptyRuns(t *testing.T) {
	tg, _ := newTarget(t, 0)
	if _, err := OpenLoop(context.Background(), tg, 10, time.Second); err == nil {
		t.Error("open loop without requests accepted")
	}
	if _, err := ClosedLoop(context.Background(), tg, 1, time.Second); err == nil {
		t.Error("closed loop without requests accepted")
	}
}

func TestPercentileNearestRank(t *testing.T) {
	var ls []time.Duration
	for i := 1; i <= 100; i++ {
		ls = append(ls, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := Percentile(ls, c.p); got != c.want {
			t.Errorf("p%s = %s, want %s", strconv.FormatFloat(c.p, 'g', -1, 64), got, c.want)
		}
	}
	if got := Percentile(ls[:1], 99); got != time.Millisecond {
		t.Errorf("p99 of one = %s", got)
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("p50 of none = %s", got)
	}
}

// With MaxInFlight, requests beyond the bound wait, and their wait counts.
func TestOpenLoopBoundsRequestsInFlight(t *testing.T) {
	const delay = 50 * time.Millisecond
	tg, rec := newTarget(t, delay, "/a")
	tg.MaxInFlight = 2
	// 20 requests due every 5 ms, served two at a time in 50 ms each: the
	// last one, due at 95 ms, cannot be answered before 10 * 50 ms.
	run, err := OpenLoop(context.Background(), tg, 200, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Samples) != 20 || rec.paths["/a"] != 20 || run.Failed() != 0 {
		t.Fatalf("%d samples, %d served, %d failed", len(run.Samples), rec.paths["/a"], run.Failed())
	}
	if got, want := run.Samples[19].Latency, 10*delay-95*time.Millisecond; got < want {
		t.Errorf("last request's latency %s: the wait for a slot was not counted (want >= %s)", got, want)
	}
}

// Requests that cannot start within MaxLag of their due time are not sent.
func TestOpenLoopGivesUpOnRequestsTooFarBehind(t *testing.T) {
	tg, rec := newTarget(t, 100*time.Millisecond, "/a")
	tg.MaxInFlight, tg.MaxLag = 1, 150*time.Millisecond
	// One request at a time, 100 ms each, 10 due within 100 ms: the first
	// two start within 150 ms of their due time, later ones cannot.
	run, err := OpenLoop(context.Background(), tg, 100, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	behind := 0
	for _, s := range run.Samples {
		if errors.Is(s.Err, ErrBehind) {
			behind++
		}
	}
	if len(run.Samples) != 10 || behind == 0 || behind+rec.paths["/a"] != 10 || run.Failed() != behind || run.NotSent() != behind {
		t.Errorf("%d samples, %d given up, %d served, %d failed", len(run.Samples), behind, rec.paths["/a"], run.Failed())
	}
}
