package traffic

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRunSendsEveryRequestInOrder(t *testing.T) {
	var inFlight, maxInFlight atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		io.WriteString(w, r.URL.RequestURI()+"|"+string(body))
	}))
	defer srv.Close()

	var reqs []Request
	for _, p := range []string{"/a", "/b?x=1", "/c"} {
		reqs = append(reqs, Request{Method: http.MethodPost, Path: p, Body: []byte("body" + p)})
	}
	var progress []int
	res, err := Run(context.Background(), srv.Client(), srv.URL, reqs, 2, func(done int) { progress = append(progress, done) })
	if err != nil {
		t.Fatal(err)
	}
	for i, resp := range res.Responses {
		want := reqs[i].Path + "|body" + reqs[i].Path
		if resp.Err != nil || resp.Status != 200 || string(resp.Body) != want || resp.Header.Get("X-Method") != "POST" {
			t.Errorf("response %d = %d %q %v, want 200 %q", i, resp.Status, resp.Body, resp.Err, want)
		}
	}
	if got := len(progress); got != 3 || progress[2] != 3 {
		t.Errorf("progress calls = %v, want 1,2,3", progress)
	}
	if maxInFlight.Load() > 2 {
		t.Errorf("%d requests in flight, limit was 2", maxInFlight.Load())
	}
	if res.Errors() != 0 || res.Percentile(99) <= 0 {
		t.Errorf("errors=%d p99=%v", res.Errors(), res.Percentile(99))
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, srv.Client(), srv.URL, make([]Request, 100), 4, nil)
	if err == nil {
		t.Fatal("Run on a cancelled context returned no error")
	}
	if res.Errors() == 100 {
		return // every request failed fast: fine
	}
	for _, r := range res.Responses {
		if r.Status == 200 && r.Err == nil && r.Request.Method != "" {
			t.Fatalf("a request was sent after cancellation: %+v", r)
		}
	}
}

func TestProgressDrawsFinalLine(t *testing.T) {
	var buf bytes.Buffer
	p := &Progress{W: &buf, Total: 4}
	for i := 1; i <= 4; i++ {
		p.Update(i)
	}
	if out := buf.String(); !strings.Contains(out, "4/4") || !strings.HasSuffix(out, "\n") {
		t.Errorf("progress output %q lacks the final 4/4 line", out)
	}
}

// A log or a file gets the final line only: frames redrawn with carriage
// returns would all end up on one line there.
func TestProgressOffTerminalDrawsOnlyTheEnd(t *testing.T) {
	var buf bytes.Buffer
	p := &Progress{W: &buf, Total: 4}
	for i := 1; i <= 4; i++ {
		p.Update(i)
	}
	if out := buf.String(); strings.Count(out, "req/s") != 1 || strings.Contains(out, "\r") {
		t.Errorf("progress output off a terminal %q: want one line, no carriage return", out)
	}
}
