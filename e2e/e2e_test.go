// End-to-end tests of the whole pipeline on loopback, with real parts only:
// bin/filter.wasm in the harness sidecar started from envoy/local.yaml, the
// real collector over gRPC, and the sample services as real HTTP servers.
package e2e_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
	"github.com/shadowdiff/shadowdiff/e2e/report"
	"github.com/shadowdiff/shadowdiff/e2e/sampleapp"
	"github.com/shadowdiff/shadowdiff/e2e/stack"
	"github.com/shadowdiff/shadowdiff/e2e/traffic"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

var binDir string

// TestMain builds the binaries the stack runs from the current source, so
// `go test ./e2e/` always tests this tree.
func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "shadowdiff-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := 1
	if err := testenv.BuildStack(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// collectorArgs: a short pairing window so incomplete sets are counted
// quickly, and a minimum sample the test's traffic reaches on every endpoint.
var collectorArgs = []string{"--pair-window", "2s", "--min-samples", "50"}

func startStack(t *testing.T) *stack.Stack {
	t.Helper()
	work := t.TempDir()
	st, err := stack.Start(context.Background(), stack.Options{
		BinDir: binDir, EnvoyConfig: "../envoy/local.yaml", WorkDir: work, FreePorts: true, CollectorArgs: collectorArgs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("stop stack: %v", err)
		}
		if t.Failed() {
			for name, path := range st.Logs() {
				b, _ := os.ReadFile(path)
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("--- %s log (tail) ---\n%s", name, b)
			}
		}
	})
	return st
}

func queryClient(t *testing.T, st *stack.Stack) shadowdiffv1.QueryClient {
	t.Helper()
	conn, err := grpc.NewClient(st.CollectorAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return shadowdiffv1.NewQueryClient(conn)
}

func send(t *testing.T, base string, reqs []traffic.Request) *traffic.Result {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second}
	res, err := traffic.Run(context.Background(), client, base, reqs, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Errors(); n > 0 {
		t.Fatalf("%d of %d requests failed at the transport level", n, len(reqs))
	}
	return res
}

var placeholder = regexp.MustCompile(`\{[^}]*\}`)

// endpointFor finds the collector's endpoint for a sample route, matching
// method and path template with placeholders normalised.
func endpointFor(rep *report.Report, route string) *shadowdiffv1.EndpointSummary {
	method, tmpl, _ := strings.Cut(route, " ")
	for _, ep := range rep.Endpoints.GetEndpoints() {
		if ep.GetMethod() == method && placeholder.ReplaceAllString(ep.GetPathTemplate(), "{}") == placeholder.ReplaceAllString(tmpl, "{}") {
			return ep
		}
	}
	return nil
}

func routeOf(ep *shadowdiffv1.EndpointSummary) string {
	return sampleapp.Route(ep.GetMethod(), placeholder.ReplaceAllString(ep.GetPathTemplate(), "1"))
}

func hasKind(kinds []*shadowdiffv1.KindCount, k shadowdiffv1.DiffKind) bool {
	for _, kc := range kinds {
		if kc.GetKind() == k && kc.GetCount() > 0 {
			return true
		}
	}
	return false
}

func TestReportFindsEveryInjectedChangeAndNoNoise(t *testing.T) {
	st := startStack(t)
	reqs := sampleapp.Traffic(7, 4000)
	res := send(t, st.FrontURL, reqs)

	rep, err := report.Collect(context.Background(), queryClient(t, st), uint64(len(reqs)), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	rep.Write(&sb)
	t.Logf("report:\n%s", sb.String())

	// Every injected change is reported on its endpoint and field, with its kind.
	for _, c := range sampleapp.Changes() {
		ep := endpointFor(rep, c.Route)
		if ep == nil {
			t.Errorf("change %s: no endpoint for %s", c.ID, c.Route)
			continue
		}
		var field *shadowdiffv1.FieldStats
		for _, f := range rep.Fields[ep.GetEndpoint()] {
			if f.GetPath() == c.Path {
				field = f
			}
		}
		switch {
		case field == nil:
			t.Errorf("change %s: field %s not listed on %s", c.ID, c.Path, ep.GetEndpoint())
		case !field.GetSignificant():
			t.Errorf("change %s: %s on %s not significant: r=%d n=%d T=%d p=%g (%s)", c.ID, c.Path, ep.GetEndpoint(),
				field.GetRawDifferences(), field.GetNoiseDifferences(), field.GetTotal(), field.GetPValue(), field.GetReason())
		case !hasKind(field.GetRawKinds(), c.Kind):
			t.Errorf("change %s: %s on %s has kinds %v, want %s", c.ID, c.Path, ep.GetEndpoint(), field.GetRawKinds(), c.Kind)
		}
		if ep.GetVerdict() != shadowdiffv1.Verdict_VERDICT_REGRESSION {
			t.Errorf("change %s: endpoint %s verdict %s, want REGRESSION", c.ID, ep.GetEndpoint(), ep.GetVerdict())
		}
	}

	// No noise field and nothing unexplained is reported; clean endpoints are clean.
	for _, ep := range rep.Endpoints.GetEndpoints() {
		route := routeOf(ep)
		for _, f := range rep.Significant(ep.GetEndpoint()) {
			if sampleapp.IsNoise(route, f.GetPath()) || !sampleapp.Explained(route, f.GetPath()) {
				t.Errorf("false positive: %s %s reported significant (r=%d n=%d T=%d, %s)", ep.GetEndpoint(), f.GetPath(),
					f.GetRawDifferences(), f.GetNoiseDifferences(), f.GetTotal(), f.GetReason())
			}
		}
	}
	for _, e := range sampleapp.Endpoints() {
		if len(e.Changes) > 0 || e.SideEffect {
			continue
		}
		ep := endpointFor(rep, e.Route)
		if ep == nil {
			t.Errorf("no endpoint for clean route %s", e.Route)
		} else if ep.GetVerdict() != shadowdiffv1.Verdict_VERDICT_CLEAN {
			t.Errorf("clean route %s: verdict %s, want CLEAN", e.Route, ep.GetVerdict())
		}
	}

	// Request counts add up, and side effects never reached the shadows.
	totals := rep.Endpoints.GetTotals()
	if got := report.Accounted(totals); got != uint64(len(reqs)) {
		t.Errorf("compared %d + skipped %d + incomplete %d + mismatched %d = %d, want %d sent",
			totals.GetCompared(), totals.GetSkippedSideEffect(), totals.GetIncomplete(), totals.GetFingerprintMismatch(), got, len(reqs))
	}
	sideEffectsAnswered(t, st, reqs, totals)
	for i, r := range res.Responses {
		if r.Status >= 500 {
			t.Fatalf("request %d %s %s: status %d", i, r.Request.Method, r.Request.Path, r.Status)
		}
	}
}

// sideEffectsAnswered checks that every write the traffic sent was counted
// as a side effect the shadows' filters answered, and that none reached a
// shadow service.
func sideEffectsAnswered(t *testing.T, st *stack.Stack, reqs []traffic.Request, totals *shadowdiffv1.Totals) {
	t.Helper()
	var writes uint64
	for _, r := range reqs {
		if r.Method != http.MethodGet {
			writes++
		}
	}
	if totals.GetSkippedSideEffect() != writes {
		t.Errorf("skipped side effects = %d, want %d", totals.GetSkippedSideEffect(), writes)
	}
	for _, role := range []string{"secondary", "candidate"} {
		stats, err := sampleapp.FetchStats(context.Background(), http.DefaultClient, st.AppURLs[role])
		if err != nil {
			t.Fatal(err)
		}
		if n := stats.SideEffects(); n != 0 {
			t.Errorf("%s received %d mirrored POST/PUT/DELETE requests, want 0: %v", role, n, stats.Requests)
		}
	}
}

// stat reads one counter from the sidecar's admin /stats.
func stat(t *testing.T, st *stack.Stack, prefix string) int64 {
	t.Helper()
	resp, err := http.Get(st.AdminURL + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum int64
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if ok && strings.HasPrefix(name, prefix) {
			n, _ := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
			sum += n
		}
	}
	return sum
}

// sameAsDirect checks the client saw what the primary service answers on
// its own: status and body shape (bodies carry per-response noise).
func sameAsDirect(t *testing.T, st *stack.Stack, res *traffic.Result) {
	t.Helper()
	direct := send(t, st.AppURLs["primary"], requestsOf(res))
	for i, r := range res.Responses {
		d := direct.Responses[i]
		if r.Status != d.Status || r.Header.Get("Content-Type") != d.Header.Get("Content-Type") {
			t.Errorf("%s %s through the sidecar: %d %q; direct: %d %q", r.Request.Method, r.Request.Path,
				r.Status, r.Header.Get("Content-Type"), d.Status, d.Header.Get("Content-Type"))
		}
	}
}

func requestsOf(res *traffic.Result) []traffic.Request {
	reqs := make([]traffic.Request, len(res.Responses))
	for i, r := range res.Responses {
		reqs[i] = r.Request
	}
	return reqs
}

// While the collector is down the filters keep what they digested (up to
// their queue's bounds) and deliver it when it is back: a stream that
// fails UNAVAILABLE gives its batch back to the queue.
func TestCollectorOutageNeverTouchesTrafficAndRecovers(t *testing.T) {
	st := startStack(t)
	if err := st.StopCollector(); err != nil {
		t.Fatal(err)
	}
	outage := sampleapp.Traffic(11, 300)
	res := send(t, st.FrontURL, outage)
	sameAsDirect(t, st, res)
	// The filters try the collector and keep their digests.
	deadline := time.Now().Add(10 * time.Second)
	for stat(t, st, "wasmcustom.shadowdiff.digests_requeued") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no batch went back to the queue while the collector was down")
		}
		time.Sleep(200 * time.Millisecond)
	}

	if err := st.StartCollector(context.Background()); err != nil {
		t.Fatal(err)
	}
	// No new traffic: what arrives was digested during the outage.
	rep, err := report.Collect(context.Background(), queryClient(t, st), uint64(len(outage)), 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := report.Accounted(rep.Endpoints.GetTotals()); got < uint64(len(outage)) || rep.Endpoints.GetTotals().GetCompared() == 0 {
		t.Errorf("after the outage the collector accounted for %d of the %d requests sent during it (totals %v)", got, len(outage), rep.Endpoints.GetTotals())
	}
	if n := stat(t, st, "wasmcustom.shadowdiff.digests_dropped"); n != 0 {
		t.Errorf("%d digests dropped in an outage the queues could hold", n)
	}
}

func TestCollectorRestartKeepsWhatItAcknowledged(t *testing.T) {
	st := startStack(t)
	reqs := sampleapp.Traffic(21, 600)
	send(t, st.FrontURL, reqs)
	before, err := report.Collect(context.Background(), queryClient(t, st), uint64(len(reqs)), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.StopCollector(); err != nil {
		t.Fatal(err)
	}
	if err := st.StartCollector(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, err := report.Collect(context.Background(), queryClient(t, st), uint64(len(reqs)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, a := before.Endpoints.GetTotals(), after.Endpoints.GetTotals()
	if a.GetCompared() < b.GetCompared() || a.GetSkippedSideEffect() < b.GetSkippedSideEffect() {
		t.Errorf("after restart: compared %d skipped %d; before: compared %d skipped %d",
			a.GetCompared(), a.GetSkippedSideEffect(), b.GetCompared(), b.GetSkippedSideEffect())
	}
}

func TestCandidateFailureIsInvisibleToClients(t *testing.T) {
	st := startStack(t)
	const delay = 5 * time.Second
	faults := []struct {
		name  string
		fault sampleapp.Fault
	}{
		{"reset", sampleapp.Fault{Reset: true}},
		{"slow", sampleapp.Fault{Delay: sampleapp.Duration(delay)}},
		{"error", sampleapp.Fault{Status: http.StatusInternalServerError}},
	}
	for i, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			if err := sampleapp.SetFault(context.Background(), http.DefaultClient, st.AppURLs["candidate"], f.fault); err != nil {
				t.Fatal(err)
			}
			res := send(t, st.FrontURL, sampleapp.Traffic(uint64(31+i), 100))
			sameAsDirect(t, st, res)
			// The mirror is fire-and-forget: a slow candidate must not hold the
			// primary response (a margin of seconds, not a benchmark).
			for _, r := range res.Responses {
				if r.Latency >= delay {
					t.Fatalf("%s %s took %s with a candidate that answers after %s", r.Request.Method, r.Request.Path, r.Latency, delay)
				}
			}
		})
	}
	t.Run("stopped", func(t *testing.T) {
		if err := st.StopApp("candidate"); err != nil {
			t.Fatal(err)
		}
		sameAsDirect(t, st, send(t, st.FrontURL, sampleapp.Traffic(41, 100)))
	})
}
