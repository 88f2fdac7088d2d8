package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/traffic"
)

// Target is where a load run sends its requests: Base plus each request's
// path, the requests taken in turn (and again from the start when a run
// needs more of them than the list holds).
type Target struct {
	Client   *http.Client
	Base     string
	Requests []traffic.Request
	// MaxInFlight bounds an open-loop run's outstanding requests (0: no
	// bound). A request due while the bound is reached waits for a slot,
	// and its latency still counts from when it was due, as wrk2 does; the
	// bound keeps an overloaded server from exhausting file descriptors.
	MaxInFlight int
	// MaxLag, with MaxInFlight, bounds how late a request may be sent: one
	// still waiting for a slot MaxLag after it was due is not sent and
	// counts as failed (ErrBehind), so an overloaded run ends about when
	// it should instead of queueing for minutes. 0: no bound.
	MaxLag time.Duration
}

// ErrBehind marks a request an open-loop run gave up sending because it
// could not start within Target.MaxLag of when it was due.
var ErrBehind = errors.New("not sent: the server was too far behind (open loop's MaxLag)")

// Sample is the outcome of one request.
type Sample struct {
	// Latency runs from when the request was due (open loop) or sent
	// (closed loop) to the end of its response body.
	Latency time.Duration
	Status  int
	Err     error
}

// Run is the outcome of one load run.
type Run struct {
	Samples []Sample
	// Elapsed runs from the first request to the last response.
	Elapsed time.Duration
}

// Failed counts requests that failed at the transport level or got a 5xx.
func (r *Run) Failed() int {
	n := 0
	for _, s := range r.Samples {
		if s.Err != nil || s.Status >= 500 {
			n++
		}
	}
	return n
}

// NotSent counts requests given up before sending (ErrBehind).
func (r *Run) NotSent() int {
	n := 0
	for _, s := range r.Samples {
		if errors.Is(s.Err, ErrBehind) {
			n++
		}
	}
	return n
}

// Throughput is the rate of requests answered without failure, per second.
func (r *Run) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.Samples)-r.Failed()) / r.Elapsed.Seconds()
}

// Latencies returns the latencies of the requests that did not fail, sorted.
func (r *Run) Latencies() []time.Duration {
	ls := make([]time.Duration, 0, len(r.Samples))
	for _, s := range r.Samples {
		if s.Err == nil && s.Status < 500 {
			ls = append(ls, s.Latency)
		}
	}
	slices.Sort(ls)
	return ls
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method, or 0 for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// OpenLoop sends requests at a fixed rate for d, whatever the responses
// do: request i is due at start + i/rate and is sent then (or at once if the
// generator is late), each on its own goroutine, and its latency counts from
// when it was due, so a slow server cannot hide its queueing (no
// coordinated omission). OpenLoop waits for every response.
func OpenLoop(ctx context.Context, t Target, rate float64, d time.Duration) (*Run, error) {
	if rate <= 0 || d <= 0 || len(t.Requests) == 0 {
		return nil, errors.New("open loop: want a positive rate and duration and at least one request")
	}
	n := int(rate * d.Seconds())
	run := &Run{Samples: make([]Sample, n)}
	interval := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	var slots chan struct{}
	if t.MaxInFlight > 0 {
		slots = make(chan struct{}, t.MaxInFlight)
	}
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var err error
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		if slots != nil {
			select {
			case <-ctx.Done():
			case slots <- struct{}{}:
			}
		}
		if err = ctx.Err(); err != nil {
			run.Samples = run.Samples[:i]
			break
		}
		if slots != nil && t.MaxLag > 0 && time.Since(due) > t.MaxLag {
			<-slots
			run.Samples[i] = Sample{Err: ErrBehind}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			run.Samples[i] = send(ctx, t, t.Requests[i%len(t.Requests)], due)
			if slots != nil {
				<-slots
			}
		}()
	}
	wg.Wait()
	run.Elapsed = time.Since(start)
	return run, err
}

// ClosedLoop runs workers clients that each send their next request as soon
// as the previous one is answered, for d.
func ClosedLoop(ctx context.Context, t Target, workers int, d time.Duration) (*Run, error) {
	if workers < 1 || d <= 0 || len(t.Requests) == 0 {
		return nil, errors.New("closed loop: want at least one worker, a positive duration and at least one request")
	}
	per := make([][]Sample, workers)
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(stop) && ctx.Err() == nil; i += workers {
				per[w] = append(per[w], send(ctx, t, t.Requests[i%len(t.Requests)], time.Now()))
			}
		}()
	}
	wg.Wait()
	run := &Run{Elapsed: time.Since(start)}
	for _, s := range per {
		run.Samples = append(run.Samples, s...)
	}
	return run, ctx.Err()
}

func send(ctx context.Context, t Target, r traffic.Request, from time.Time) Sample {
	req, err := http.NewRequestWithContext(ctx, r.Method, t.Base+r.Path, bytes.NewReader(r.Body))
	if err != nil {
		return Sample{Err: fmt.Errorf("build %s %s: %w", r.Method, r.Path, err)}
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	resp, err := t.Client.Do(req)
	if err != nil {
		return Sample{Err: err}
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return Sample{Status: resp.StatusCode, Err: fmt.Errorf("read body: %w", err)}
	}
	return Sample{Latency: time.Since(from), Status: resp.StatusCode}
}

// NewClient returns an HTTP/1.1 client that keeps enough idle connections
// for an open-loop run's concurrency and leaves bodies as the server sent
// them (no transparent gzip).
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConns: 2048, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second,
		DisableCompression: true,
	}}
}
