// Package traffic sends a list of requests to a base URL with bounded
// concurrency and records what came back, for the demo and the e2e tests.
package traffic

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

// Request is one request to send.
type Request struct {
	Method string
	Path   string // with query
	Header http.Header
	Body   []byte
}

// Response is what one request got.
type Response struct {
	Request  Request
	Status   int
	Header   http.Header
	Body     []byte
	Latency  time.Duration
	Err      error
	Sequence int
}

// Result summarises a run.
type Result struct {
	Responses []Response // in request order
	Elapsed   time.Duration
}

// Errors counts requests that failed at the transport level.
func (r *Result) Errors() int {
	n := 0
	for _, resp := range r.Responses {
		if resp.Err != nil {
			n++
		}
	}
	return n
}

// Percentile returns the p-th percentile (0..100) latency of successful requests.
func (r *Result) Percentile(p float64) time.Duration {
	var ls []time.Duration
	for _, resp := range r.Responses {
		if resp.Err == nil {
			ls = append(ls, resp.Latency)
		}
	}
	if len(ls) == 0 {
		return 0
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
	i := int(p / 100 * float64(len(ls)-1))
	return ls[i]
}

// Run sends reqs to base with at most concurrency requests in flight.
// progress, when set, is called after each response with the count done.
// Run returns early with ctx's error when ctx ends.
func Run(ctx context.Context, client *http.Client, base string, reqs []Request, concurrency int, progress func(done int)) (*Result, error) {
	if concurrency < 1 {
		concurrency = 1
	}
	res := &Result{Responses: make([]Response, len(reqs))}
	start := time.Now()
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res.Responses[i] = send(ctx, client, base, reqs[i])
				res.Responses[i].Sequence = i
				if progress != nil {
					mu.Lock()
					done++
					progress(done)
					mu.Unlock()
				}
			}
		}()
	}
	var err error
feed:
	for i := range reqs {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res, err
}

func send(ctx context.Context, client *http.Client, base string, r Request) Response {
	out := Response{Request: r}
	req, err := http.NewRequestWithContext(ctx, r.Method, base+r.Path, bytes.NewReader(r.Body))
	if err != nil {
		out.Err = fmt.Errorf("build %s %s: %w", r.Method, r.Path, err)
		return out
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		out.Err = err
		return out
	}
	defer resp.Body.Close()
	out.Body, out.Err = io.ReadAll(resp.Body)
	out.Latency = time.Since(start)
	out.Status = resp.StatusCode
	out.Header = resp.Header
	return out
}

// Progress draws a one-line progress bar on w for a run of total requests.
// On anything but a terminal (a CI log, a file) it draws only the final
// line: redrawing with carriage returns there leaves every frame on one line.
type Progress struct {
	W     io.Writer
	Total int
	start time.Time
	last  time.Time
	// plain is whether W is not a terminal, once known.
	plain *bool
}

// Update redraws the bar at most every 100 ms and always at the end.
func (p *Progress) Update(done int) {
	now := time.Now()
	if p.start.IsZero() {
		p.start = now
	}
	if p.plain == nil {
		plain := !isTerminal(p.W)
		p.plain = &plain
	}
	if done < p.Total && (*p.plain || now.Sub(p.last) < 100*time.Millisecond) {
		return
	}
	p.last = now
	const width = 40
	filled := width * done / max(p.Total, 1)
	rate := float64(done) / max(now.Sub(p.start).Seconds(), 1e-3)
	bar := bytes.Repeat([]byte("="), filled)
	if filled < width {
		bar = append(bar, '>')
		bar = append(bar, bytes.Repeat([]byte(" "), width-filled-1)...)
	}
	prefix := "\r"
	if *p.plain {
		prefix = ""
	}
	fmt.Fprintf(p.W, "%s  [%s] %d/%d  %.0f req/s", prefix, bar, done, p.Total, rate)
	if done >= p.Total {
		fmt.Fprintln(p.W)
	}
}

// isTerminal reports whether w is a character device, as a terminal is.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
