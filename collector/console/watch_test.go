package console

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// openWatch starts a live-update stream and returns its lines.
func openWatch(t *testing.T, srv *httptest.Server, endpoint string) *bufio.Scanner {
	t.Helper()
	// A safety net only: the test ends as soon as it saw what it waits for.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/watch?endpoint="+url.QueryEscape(endpoint), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("watch = %d %q", resp.StatusCode, ct)
	}
	return bufio.NewScanner(resp.Body)
}

// Traffic that arrives while a console tab listens turns into a
// "regression" event for the field the data implies.
func TestWatchStreamsRegressions(t *testing.T) {
	eng, clk := openEngine(t)
	srv := httptest.NewServer(New(eng.QueryServer(), Options{Logger: quietLogger(), Heartbeat: 20 * time.Millisecond}))
	// Cleanups run last-in first-out: the stream ends before Close waits
	// for open requests.
	t.Cleanup(srv.Close)
	const regressed = "GET /api/orders/{id}"
	sc := openWatch(t, srv, regressed)
	for sc.Scan() && sc.Text() != ": subscribed" {
	}
	ingestSeed(t, eng, clk)

	var event *shadowdiffv1.RegressionEvent
	var sawHeartbeat, inEvent bool
	for (event == nil || !sawHeartbeat) && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "event: regression":
			inEvent = true
		case strings.HasPrefix(line, "data: ") && inEvent:
			event = &shadowdiffv1.RegressionEvent{}
			if err := protojson.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), event); err != nil {
				t.Fatalf("event data %q: %v", line, err)
			}
			inEvent = false
		case line == ": heartbeat":
			sawHeartbeat = true
		}
	}
	if event == nil || !sawHeartbeat {
		t.Fatalf("stream ended early (event %v, heartbeat %v): %v", event, sawHeartbeat, sc.Err())
	}
	if event.Endpoint != regressed || event.Field.GetPath() != "body.order.total" || !event.Field.GetSignificant() || event.Time == nil {
		t.Errorf("event = %v, want %s body.order.total significant", event, regressed)
	}
}

func TestWatchEndsAtMaxDuration(t *testing.T) {
	eng, _ := openEngine(t)
	srv := httptest.NewServer(New(eng.QueryServer(), Options{Logger: quietLogger(), WatchMaxDuration: 50 * time.Millisecond}))
	defer srv.Close()
	code, _, body := call(t, "GET", srv.URL+"/api/watch", "", "") // returns only when the stream ends
	if code != 200 || !strings.HasPrefix(string(body), "retry: ") || !strings.Contains(string(body), ": subscribed\n") {
		t.Errorf("watch = %d %q", code, body)
	}
}

// A Query service without WatchRegressions ends the stream with an "end"
// event so the app stops reconnecting and keeps polling.
func TestWatchUnimplemented(t *testing.T) {
	srv := httptest.NewServer(New(shadowdiffv1.UnimplementedQueryServer{}, Options{Logger: quietLogger()}))
	defer srv.Close()
	code, _, body := call(t, "GET", srv.URL+"/api/watch", "", "")
	if code != 200 || !strings.Contains(string(body), "event: end\ndata: {\"error\":") || !strings.Contains(string(body), `"code":"Unimplemented"`) {
		t.Errorf("watch on an unimplemented service = %d %q", code, body)
	}
	if code, _, _ := call(t, "GET", srv.URL+"/api/endpoints", "", ""); code != 501 {
		t.Errorf("unimplemented ListEndpoints = %d, want 501", code)
	}
}

// panickingWatch is a Query service whose WatchRegressions has a bug.
type panickingWatch struct {
	shadowdiffv1.UnimplementedQueryServer
}

func (panickingWatch) WatchRegressions(*shadowdiffv1.WatchRegressionsRequest, grpc.ServerStreamingServer[shadowdiffv1.RegressionEvent]) error {
	panic("simulated bug")
}

// A panic in the Query service's watch (a bug) ends the stream with an
// "end" event: it runs outside the request's goroutine, where net/http
// would not recover it and the collector would exit.
func TestWatchPanicEndsTheStream(t *testing.T) {
	srv := httptest.NewServer(New(panickingWatch{}, Options{Logger: quietLogger()}))
	defer srv.Close()
	code, _, body := call(t, "GET", srv.URL+"/api/watch", "", "")
	if code != 200 || !strings.Contains(string(body), "event: end\n") || !strings.Contains(string(body), `"code":"Internal"`) {
		t.Errorf("watch of a panicking service = %d %q", code, body)
	}
}
