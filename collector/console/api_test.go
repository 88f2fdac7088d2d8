package console

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newAPIServer(t *testing.T) (*httptest.Server, *seeded) {
	t.Helper()
	seed := seedCollector(t)
	srv := httptest.NewServer(New(seed.q, Options{Title: "test <console>", Logger: quietLogger()}))
	t.Cleanup(srv.Close)
	return srv, seed
}

// call sends a request and returns status, content type and body.
func call(t *testing.T, method, u, contentType, body string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), data
}

func decode[T any, P interface {
	*T
	proto.Message
}](t *testing.T, data []byte) P {
	t.Helper()
	var v T
	p := P(&v)
	if err := protojson.Unmarshal(data, p); err != nil {
		t.Fatalf("decode %T: %v\n%s", p, err, data)
	}
	return p
}

func TestAPIEndpointsRankedWithRatings(t *testing.T) {
	srv, seed := newAPIServer(t)
	code, ct, body := call(t, "GET", srv.URL+"/api/endpoints", "", "")
	if code != 200 || ct != "application/json" {
		t.Fatalf("GET /api/endpoints = %d %q: %s", code, ct, body)
	}
	resp := decode[shadowdiffv1.ListEndpointsResponse](t, body)
	var got []string
	for _, e := range resp.Endpoints {
		got = append(got, e.Endpoint+"="+strings.TrimPrefix(e.Rating.String(), "RATING_"))
	}
	if v := resp.Endpoints[0].Verdict; v != shadowdiffv1.Verdict_VERDICT_REGRESSION {
		t.Errorf("%s verdict = %v, want REGRESSION", resp.Endpoints[0].Endpoint, v)
	}
	if v := resp.Endpoints[len(resp.Endpoints)-1].Verdict; v != shadowdiffv1.Verdict_VERDICT_CLEAN {
		t.Errorf("%s verdict = %v, want CLEAN", resp.Endpoints[len(resp.Endpoints)-1].Endpoint, v)
	}
	want := seed.ranked()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("endpoints = %v, want %v", got, want)
	}
	// Counters are present even when zero (EmitUnpopulated), 64-bit as strings.
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	totals, _ := raw["totals"].(map[string]any)
	if _, ok := totals["fingerprintMismatch"]; !ok {
		t.Errorf("totals lacks zero-valued fingerprintMismatch: %v", totals)
	}
	if totals["requests"] != seed.totalRequests {
		t.Errorf("totals.requests = %v, want %q", totals["requests"], seed.totalRequests)
	}
}

func TestAPITimeWindow(t *testing.T) {
	srv, seed := newAPIServer(t)
	for _, q := range []string{"window=1h", "window=7d", "window=all", "start=2020-01-01T00:00:00Z", "start=2020-01-01T00:00:00Z&end=2099-01-01T00:00:00Z"} {
		code, _, body := call(t, "GET", srv.URL+"/api/endpoints?"+q, "", "")
		if code != 200 {
			t.Errorf("%s: %d %s", q, code, body)
			continue
		}
		if n := len(decode[shadowdiffv1.ListEndpointsResponse](t, body).Endpoints); n != 3 {
			t.Errorf("%s: %d endpoints, want 3", q, n)
		}
	}
	// A window that ended before the data was seeded holds nothing.
	code, _, body := call(t, "GET", srv.URL+"/api/endpoints?start=2000-01-01T00:00:00Z&end=2000-01-02T00:00:00Z", "", "")
	if code != 200 {
		t.Fatalf("old window: %d %s", code, body)
	}
	if n := len(decode[shadowdiffv1.ListEndpointsResponse](t, body).Endpoints); n != 0 && seed.honoursRange {
		t.Errorf("window in 2000: %d endpoints, want 0", n)
	}
	for q, want := range map[string]string{
		"window=soon":                          "window: not a duration",
		"window=-1h":                           "window: must be positive",
		"window=1h&start=2020-01-01T00:00:00Z": "either window or start/end",
		"start=yesterday":                      "start: not an RFC 3339 time",
		"end=2020-13-01T00:00:00Z":             "end: not an RFC 3339 time",
		"start=2021-01-01T00:00:00Z&end=2020-01-01T00:00:00Z": "end: must be after start",
	} {
		code, _, body := call(t, "GET", srv.URL+"/api/endpoints?"+q, "", "")
		var e apiError
		_ = json.Unmarshal(body, &e)
		if code != 400 || e.Code != "InvalidArgument" || !strings.Contains(e.Error, want) {
			t.Errorf("%s: %d %+v, want 400 InvalidArgument containing %q", q, code, e, want)
		}
	}
}

func TestAPIErrorsMapToHTTP(t *testing.T) {
	srv, _ := newAPIServer(t)
	for _, tc := range []struct {
		method, path, ct, body string
		code                   int
	}{
		{"GET", "/api/fields", "", "", 400},                        // endpoint required
		{"GET", "/api/fields?endpoint=GET%20%2Fnope", "", "", 404}, // unknown endpoint
		{"GET", "/api/fields?endpoint=x&include_noise=maybe", "", "", 400},
		{"GET", "/api/samples?limit=-3", "", "", 400},
		{"GET", "/api/requests?key=no-such-request", "", "", 404},
		{"DELETE", "/api/noise-rules?id=no-such-rule", "", "", 404},
		{"POST", "/api/noise-rules", "text/plain", `{"pathPrefix":"body.x"}`, 415},
		{"POST", "/api/noise-rules", "application/json", `{"pathPrefix":`, 400},
		{"POST", "/api/noise-rules", "application/json", `{"unknownField":1}`, 400},
		{"POST", "/api/noise-rules", "application/json", `{}`, 400}, // no path prefix
		{"GET", "/api/nope", "", "", 404},
		{"PUT", "/api/endpoints", "", "", 405},
	} {
		code, ct, body := call(t, tc.method, srv.URL+tc.path, tc.ct, tc.body)
		if code != tc.code {
			t.Errorf("%s %s: %d, want %d (%s)", tc.method, tc.path, code, tc.code, body)
			continue
		}
		{
			var e apiError
			if ct != "application/json" || json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Errorf("%s %s: error body %q (%s) is not {error, code}", tc.method, tc.path, body, ct)
			}
		}
	}
}

func TestAPIMarkAsNoiseChangesVerdict(t *testing.T) {
	srv, seed := newAPIServer(t)
	fieldsURL := srv.URL + "/api/fields?endpoint=" + url.QueryEscape(seed.regressed)
	code, _, body := call(t, "GET", fieldsURL, "", "")
	if code != 200 {
		t.Fatalf("fields: %d %s", code, body)
	}
	before := decode[shadowdiffv1.ListFieldsResponse](t, body)
	if before.Endpoint.Verdict != shadowdiffv1.Verdict_VERDICT_REGRESSION {
		t.Fatalf("verdict before = %v, want REGRESSION", before.Endpoint.Verdict)
	}
	if f := fieldByPath(before.Fields, seed.regressedField); f == nil || !f.Significant {
		t.Fatalf("field %s before = %v, want significant", seed.regressedField, f)
	}
	if f := fieldByPath(before.Fields, seed.noiseField); f == nil || f.Significant || f.NoiseDifferences == 0 {
		t.Fatalf("field %s = %v, want noisy and not significant", seed.noiseField, f)
	}

	rule := `{"endpoint":` + jsonString(seed.regressed) + `,"pathPrefix":` + jsonString(seed.regressedField) + `,"comment":"test"}`
	code, _, body = call(t, "POST", srv.URL+"/api/noise-rules", "application/json; charset=utf-8", rule)
	if code != 200 {
		t.Fatalf("create rule: %d %s", code, body)
	}
	created := decode[shadowdiffv1.NoiseRule](t, body)
	if created.Id == "" || created.PathPrefix != seed.regressedField {
		t.Fatalf("created rule = %v", created)
	}

	code, _, body = call(t, "GET", fieldsURL, "", "")
	if code != 200 {
		t.Fatalf("fields after: %d %s", code, body)
	}
	after := decode[shadowdiffv1.ListFieldsResponse](t, body)
	if after.Endpoint.Verdict == shadowdiffv1.Verdict_VERDICT_REGRESSION {
		t.Errorf("verdict after marking %s as noise is still REGRESSION", seed.regressedField)
	}
	if f := fieldByPath(after.Fields, seed.regressedField); f != nil {
		t.Errorf("suppressed field listed without include_noise: %v", f)
	}
	code, _, body = call(t, "GET", fieldsURL+"&include_noise=true", "", "")
	if code != 200 {
		t.Fatalf("fields with noise: %d %s", code, body)
	}
	if f := fieldByPath(decode[shadowdiffv1.ListFieldsResponse](t, body).Fields, seed.regressedField); f == nil || f.SuppressedByRule != created.Id {
		t.Errorf("with include_noise, field = %v, want suppressed by %s", f, created.Id)
	}

	code, _, body = call(t, "GET", srv.URL+"/api/noise-rules?endpoint="+url.QueryEscape(seed.regressed), "", "")
	if code != 200 || !strings.Contains(string(body), created.Id) {
		t.Errorf("rules: %d %s, want rule %s", code, body, created.Id)
	}
	code, _, body = call(t, "DELETE", srv.URL+"/api/noise-rules?id="+url.QueryEscape(created.Id), "", "")
	if code != 200 {
		t.Fatalf("delete rule: %d %s", code, body)
	}
	code, _, body = call(t, "GET", fieldsURL, "", "")
	if v := decode[shadowdiffv1.ListFieldsResponse](t, body).Endpoint.Verdict; code != 200 || v != shadowdiffv1.Verdict_VERDICT_REGRESSION {
		t.Errorf("verdict after deleting the rule = %v (%d), want REGRESSION", v, code)
	}
}

func TestAPISamplesAndRequest(t *testing.T) {
	srv, seed := newAPIServer(t)
	code, _, body := call(t, "GET", srv.URL+"/api/samples?limit=5&endpoint="+url.QueryEscape(seed.regressed)+"&path="+url.QueryEscape(seed.regressedField), "", "")
	if code != 200 {
		t.Fatalf("samples: %d %s", code, body)
	}
	samples := decode[shadowdiffv1.ListSamplesResponse](t, body).Samples
	if len(samples) == 0 || len(samples) > 5 {
		t.Fatalf("samples = %d, want 1..5", len(samples))
	}
	rec := samples[0]
	if rec.Primary == nil || rec.Secondary == nil || rec.Candidate == nil {
		t.Fatalf("sample lacks a digest: %v", rec)
	}
	var found bool
	for _, d := range rec.Differences {
		if d.Path == seed.regressedField && d.Comparison == shadowdiffv1.Comparison_COMPARISON_RAW {
			found = true
		}
	}
	if !found {
		t.Errorf("sample %s has no raw difference on %s: %v", rec.PairingKey, seed.regressedField, rec.Differences)
	}
	code, _, body = call(t, "GET", srv.URL+"/api/requests?key="+url.QueryEscape(rec.PairingKey), "", "")
	if code != 200 || decode[shadowdiffv1.RequestRecord](t, body).PairingKey != rec.PairingKey {
		t.Errorf("request %s: %d %s", rec.PairingKey, code, body)
	}
}

func TestIndexAndAssets(t *testing.T) {
	srv, _ := newAPIServer(t)
	code, ct, body := call(t, "GET", srv.URL+"/", "", "")
	if code != 200 || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET / = %d %q", code, ct)
	}
	if !strings.Contains(string(body), "<title>test &lt;console&gt;</title>") {
		t.Errorf("title not escaped into the page: %s", body)
	}
	for _, p := range []string{"static/app.js", "static/app.css"} {
		if !strings.Contains(string(body), `"`+p+`"`) {
			t.Errorf("index does not load %s by a relative URL", p)
		}
		code, _, data := call(t, "GET", srv.URL+"/"+p, "", "")
		if code != 200 || len(data) == 0 {
			t.Errorf("GET /%s = %d (%d bytes)", p, code, len(data))
		}
		// Offline: nothing may load from another origin.
		if strings.Contains(string(data), "http://") || strings.Contains(string(data), "https://") || strings.Contains(string(data), "@import") {
			t.Errorf("%s references an external URL", p)
		}
	}
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	if code, _, _ := call(t, "GET", srv.URL+"/static/missing.js", "", ""); code != 404 {
		t.Errorf("missing asset = %d, want 404", code)
	}
}

// The handler also works under a prefix, as all app URLs are relative.
func TestMountedUnderPrefix(t *testing.T) {
	seed := seedCollector(t)
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", New(seed.q, Options{Logger: quietLogger()})))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, p := range []string{"/console/", "/console/static/app.js", "/console/api/endpoints"} {
		if code, _, body := call(t, "GET", srv.URL+p, "", ""); code != 200 {
			t.Errorf("GET %s = %d %s", p, code, body)
		}
	}
}

func TestWatchStreamsEvents(t *testing.T) {
	q := &watchOnly{events: []*shadowdiffv1.RegressionEvent{{Endpoint: "GET /a", Field: &shadowdiffv1.FieldStats{Path: "body.x", Significant: true}}}}
	srv := httptest.NewServer(New(q, Options{Logger: quietLogger(), Heartbeat: 20 * time.Millisecond}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/watch?endpoint=GET%20%2Fa", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var sawEvent, sawData, sawHeartbeat bool
	for sc.Scan() && !(sawData && sawHeartbeat) {
		line := sc.Text()
		switch {
		case line == "event: regression":
			sawEvent = true
		case strings.HasPrefix(line, "data: ") && sawEvent:
			ev := &shadowdiffv1.RegressionEvent{}
			if err := protojson.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), ev); err != nil || ev.Field.GetPath() != "body.x" {
				t.Fatalf("event data %q: %v", line, err)
			}
			sawData = true
		case line == ": heartbeat":
			sawHeartbeat = true
		}
	}
	if !sawData || !sawHeartbeat {
		t.Fatalf("stream ended early (event %v, heartbeat %v): %v", sawData, sawHeartbeat, sc.Err())
	}
	if got := q.endpoint(); got != "GET /a" {
		t.Errorf("WatchRegressions got endpoint %q", got)
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

func TestWatchEndsAtMaxDuration(t *testing.T) {
	q := &watchOnly{}
	srv := httptest.NewServer(New(q, Options{Logger: quietLogger(), WatchMaxDuration: 50 * time.Millisecond}))
	defer srv.Close()
	code, _, body := call(t, "GET", srv.URL+"/api/watch", "", "") // returns only when the stream ends
	if code != 200 || !strings.HasPrefix(string(body), "retry: ") {
		t.Errorf("watch = %d %q", code, body)
	}
}

func fieldByPath(fs []*shadowdiffv1.FieldStats, path string) *shadowdiffv1.FieldStats {
	for _, f := range fs {
		if f.Path == path {
			return f
		}
	}
	return nil
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// watchOnly is a Query service with only WatchRegressions, to test the SSE
// adapter itself: it sends its events, then waits for the client to leave.
type watchOnly struct {
	shadowdiffv1.UnimplementedQueryServer
	mu     sync.Mutex
	events []*shadowdiffv1.RegressionEvent
	got    string
}

func (w *watchOnly) WatchRegressions(r *shadowdiffv1.WatchRegressionsRequest, s grpc.ServerStreamingServer[shadowdiffv1.RegressionEvent]) error {
	w.mu.Lock()
	w.got = r.Endpoint
	w.mu.Unlock()
	for _, ev := range w.events {
		if err := s.Send(ev); err != nil {
			return err
		}
	}
	<-s.Context().Done()
	return s.Context().Err()
}

func (w *watchOnly) endpoint() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got
}
