package console

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

func getEndpoints(t *testing.T, srv *httptest.Server, query string) (*shadowdiffv1.ListEndpointsResponse, []byte) {
	t.Helper()
	code, ct, body := call(t, "GET", srv.URL+"/api/endpoints?"+query, "", "")
	if code != 200 || ct != "application/json" {
		t.Fatalf("GET /api/endpoints?%s = %d %q: %s", query, code, ct, body)
	}
	return decode[shadowdiffv1.ListEndpointsResponse](t, body), body
}

func endpointByName(resp *shadowdiffv1.ListEndpointsResponse, name string) *shadowdiffv1.EndpointSummary {
	for _, e := range resp.Endpoints {
		if e.Endpoint == name {
			return e
		}
	}
	return nil
}

func TestAPIEndpointsRankedWithRatings(t *testing.T) {
	srv, seed := newAPIServer(t)
	resp, body := getEndpoints(t, srv, "")
	var got []string
	for _, e := range resp.Endpoints {
		got = append(got, e.Endpoint+"="+strings.TrimPrefix(e.Rating.String(), "RATING_"))
	}
	want := seed.ranked()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("endpoints = %v, want %v (ranked by difference rate)", got, want)
	}

	reg, almost := endpointByName(resp, seed.regressed), endpointByName(resp, seed.almost)
	post, clean := endpointByName(resp, seed.sideEffects), endpointByName(resp, seed.clean)
	if reg == nil || almost == nil || post == nil || clean == nil {
		t.Fatalf("missing endpoints in %v", got)
	}
	// Every compared order differs on the candidate: the statistical test
	// and Diffy's rule agree on one field.
	if reg.Verdict != shadowdiffv1.Verdict_VERDICT_REGRESSION || reg.DifferenceRate != 1 || reg.SignificantFields != 1 || reg.DiffyFields != 1 {
		t.Errorf("%s = verdict %v, rate %v, significant %d, diffy %d; want REGRESSION, 1, 1, 1", reg.Endpoint, reg.Verdict, reg.DifferenceRate, reg.SignificantFields, reg.DiffyFields)
	}
	if reg.Incomplete.GetMissingCandidate() != seed.incomplete || reg.Requests != seedRequests+seed.incomplete || reg.Compared != seedRequests {
		t.Errorf("%s: requests %d, compared %d, missing candidate %d; want %d, %d, %d", reg.Endpoint, reg.Requests, reg.Compared,
			reg.Incomplete.GetMissingCandidate(), seedRequests+seed.incomplete, seedRequests, seed.incomplete)
	}
	// 3 definite differences in 300: Diffy reports the field, the test
	// does not call it significant; noise (timestamps) differs everywhere.
	if almost.Verdict == shadowdiffv1.Verdict_VERDICT_REGRESSION || almost.DiffyFields != 1 || almost.RegressionDifferent != 3 || almost.NoiseRate != 1 {
		t.Errorf("%s = verdict %v, diffy %d, regression_different %d, noise rate %v; want not REGRESSION, 1, 3, 1",
			almost.Endpoint, almost.Verdict, almost.DiffyFields, almost.RegressionDifferent, almost.NoiseRate)
	}
	if clean.Verdict != shadowdiffv1.Verdict_VERDICT_CLEAN || clean.RegressionDifferent != 0 || !clean.HasSecondary {
		t.Errorf("%s = %v, regression_different %d, has secondary %v; want CLEAN, 0, true", clean.Endpoint, clean.Verdict, clean.RegressionDifferent, clean.HasSecondary)
	}
	if post.SkippedSideEffect != seed.skipped || post.Compared != 0 || post.Verdict != shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA {
		t.Errorf("%s: skipped %d, compared %d, verdict %v; want %d, 0, INSUFFICIENT_DATA", post.Endpoint, post.SkippedSideEffect, post.Compared, post.Verdict, seed.skipped)
	}

	// Totals: where the traffic went. Counters are present even when zero
	// (EmitUnpopulated), 64-bit integers as strings.
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	totals, _ := raw["totals"].(map[string]any)
	for k, want := range map[string]uint64{
		"requests": seed.totalRequests, "compared": seed.compared, "skippedSideEffect": seed.skipped,
		"incomplete": seed.incomplete, "fingerprintMismatch": 0, "duplicates": 0, "droppedByFilters": 0,
	} {
		if totals[k] != fmt.Sprint(want) {
			t.Errorf("totals.%s = %#v, want %q", k, totals[k], fmt.Sprint(want))
		}
	}
}

func TestAPITimeWindow(t *testing.T) {
	srv, _ := newAPIServer(t)
	// The traffic was seeded three minutes ago.
	for q, want := range map[string]int{
		"window=1h": 4, "window=7d": 4, "window=all": 4, "": 4,
		"start=2020-01-01T00:00:00Z":                          4,
		"start=2020-01-01T00:00:00Z&end=2099-01-01T00:00:00Z": 4,
		"window=1m": 0,
		"start=2000-01-01T00:00:00Z&end=2000-01-02T00:00:00Z":             0,
		"start=" + time.Now().Add(time.Minute).UTC().Format(time.RFC3339): 0,
	} {
		resp, _ := getEndpoints(t, srv, q)
		if n := len(resp.Endpoints); n != want {
			t.Errorf("%q: %d endpoints, want %d", q, n, want)
		}
		if want == 0 && resp.Totals.GetRequests() != 0 {
			t.Errorf("%q: totals.requests = %d, want 0", q, resp.Totals.GetRequests())
		}
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

// A POST without a JSON body type is 415 with its own code: the docs map
// InvalidArgument to 400.
func TestUnsupportedMediaTypeCode(t *testing.T) {
	srv, _ := newAPIServer(t)
	code, _, body := call(t, "POST", srv.URL+"/api/noise-rules", "text/plain", `{"pathPrefix":"body.x"}`)
	var e apiError
	if err := json.Unmarshal(body, &e); code != 415 || err != nil || e.Code != "UnsupportedMediaType" {
		t.Errorf("POST text/plain: %d %s, want 415 with code UnsupportedMediaType", code, body)
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
	// The page's template is not an asset: served as it is it showed
	// {{.Title}}.
	for _, p := range []string{"/static/", "/static/index.html"} {
		if code, body, _ := call(t, "GET", srv.URL+p, "", ""); code != 404 || strings.Contains(body, "{{") {
			t.Errorf("GET %s = %d, want 404 without the raw template", p, code)
		}
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
