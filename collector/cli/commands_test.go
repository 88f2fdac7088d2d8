package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/shadowdiff/shadowdiff/collector/engine"
	"github.com/shadowdiff/shadowdiff/collector/server"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func TestClear(t *testing.T) {
	c := seeded(t)
	products := c.names(t)[productsPath]
	r := run(t, c, "clear", products)
	if r.code != ExitOK || r.stdout != fmt.Sprintf("cleared %d requests of %s\n", seedRequests, products) {
		t.Fatalf("clear: %s", r)
	}
	if r := run(t, c, "endpoints"); strings.Contains(r.stdout, products+" ") {
		t.Errorf("endpoints still lists the cleared endpoint with results: %s", r)
	}
	r = run(t, c, "clear", "--all", "-o", "json")
	var resp struct{ RequestsDeleted string }
	if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil || resp.RequestsDeleted != fmt.Sprint(2*seedRequests) {
		t.Errorf("clear --all -o json: %v\n%s", err, r)
	}
}

func TestEndpointRules(t *testing.T) {
	c := startCollector(t, server.Options{})
	r := run(t, c, "endpoint-rules", "add", "/api/products/**", "GET products", "--method", "GET", "-o", "json")
	var rule struct{ ID, Method, PathPattern, Endpoint string }
	if err := json.Unmarshal([]byte(r.stdout), &rule); r.code != ExitOK || err != nil || rule.ID == "" {
		t.Fatalf("endpoint-rules add: %v\n%s", err, r)
	}
	if rule.Method != "GET" || rule.PathPattern != "/api/products/**" || rule.Endpoint != "GET products" {
		t.Errorf("created rule = %+v", rule)
	}
	r = run(t, c, "endpoint-rules", "list")
	if r.code != ExitOK || !strings.Contains(r.stdout, rule.ID) || !strings.Contains(r.stdout, "/api/products/**") {
		t.Errorf("endpoint-rules list: %s", r)
	}
	// New traffic is named by the rule.
	c.ingest(t, seedEndpoint("products", "/api/products/7", 3, productsBody))
	c.waitCompared(t, 3)
	if r := run(t, c, "endpoints"); !strings.Contains(r.stdout, "GET products ") {
		t.Errorf("endpoints after the rule: %s", r)
	}
	if r := run(t, c, "endpoint-rules", "delete", rule.ID); r.code != ExitOK {
		t.Errorf("endpoint-rules delete: %s", r)
	}
	if r := run(t, c, "endpoint-rules", "list"); !strings.Contains(r.stdout, "No endpoint rules.") {
		t.Errorf("endpoint-rules list after delete: %s", r)
	}
}

// Rules the collector learned are listed as such.
func TestLearnedEndpointRulesListed(t *testing.T) {
	c := startCollector(t, server.Options{})
	run(t, c, "endpoint-rules", "add", "/api/orders/**", "orders")
	var ds []*shadowdiffv1.ResponseDigest
	for i := range engine.DefaultAutoTemplateThreshold + 1 {
		ds = append(ds, seedEndpoint(fmt.Sprint("brand", i), fmt.Sprint("/api/brands/brand-", i), 1, productsBody)...)
	}
	c.ingest(t, ds)
	deadline := time.Now().Add(10 * time.Second)
	r := run(t, c, "endpoint-rules", "list")
	for !strings.Contains(r.stdout, "learned") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		r = run(t, c, "endpoint-rules", "list")
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "ORIGIN") ||
		!regexp.MustCompile(`^er-1 +\* +/api/orders/\*\* +orders +user `).MatchString(lines[1]) ||
		!regexp.MustCompile(`^er-2 +GET +/api/brands/\{slug\} +GET /api/brands/\{slug\} +learned `).MatchString(lines[2]) {
		t.Errorf("endpoint-rules list:\n%s", r)
	}
}

// TestWatch streams regressions: each round adds an endpoint whose
// candidate regresses, until the watch has printed its event.
func TestWatch(t *testing.T) {
	c := startCollector(t, server.Options{})
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(context.Background(), []string{"--collector", c.addr, "watch", "--count", "1", "-o", "json"},
			&stdout, &stderr, func(string) string { return "" })
	}()
	code := -1
	for round := 0; round < 20 && code < 0; round++ {
		c.ingest(t, seedEndpoint(fmt.Sprintf("w%d", round), fmt.Sprintf("/api/watch%d/{id}", round), seedRequests, ordersBody))
		select {
		case code = <-done:
		case <-time.After(2 * time.Second): // no event yet: the watch may have subscribed late
		}
	}
	if code != ExitOK {
		t.Fatalf("watch exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	var ev shadowdiffv1.RegressionEvent
	line := strings.TrimSpace(stdout.String())
	if strings.Count(line, "\n") != 0 {
		t.Errorf("watch --count 1 printed more than one line: %q", line)
	}
	if err := unmarshalJSON(line, &ev); err != nil {
		t.Fatalf("watch -o json line: %v: %q", err, line)
	}
	if ev.GetField().GetPath() != regressedField || !strings.Contains(ev.GetEndpoint(), "/api/watch") || !ev.GetField().GetSignificant() {
		t.Errorf("event = %v", &ev)
	}
}

// The delete examples in the help use ids of the form the collector gives
// rules ("nr-3", "er-2"), so they can be copied.
func TestHelpExamplesUseRealRuleIDs(t *testing.T) {
	c := startCollector(t, server.Options{})
	var noise, endpoint struct{ ID string }
	if r := run(t, c, "noise", "add", "headers.date", "-o", "json"); r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &noise) != nil {
		t.Fatalf("noise add: %s", r)
	}
	if r := run(t, c, "endpoint-rules", "add", "/x/**", "x", "-o", "json"); r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &endpoint) != nil {
		t.Fatalf("endpoint-rules add: %s", r)
	}
	// shape turns an id into its form: "nr-1" -> "nr-N".
	shape := func(id string) string { return strings.TrimRight(id, "0123456789") + "N" }
	for _, tc := range []struct {
		help []string
		id   string
	}{
		{[]string{"noise", "--help"}, noise.ID},
		{[]string{"noise", "delete", "--help"}, noise.ID},
		{[]string{"endpoint-rules", "--help"}, endpoint.ID},
		{[]string{"endpoint-rules", "delete", "--help"}, endpoint.ID},
	} {
		r := run(t, nil, tc.help...)
		_, section, _ := strings.Cut(r.stdout, "Examples:\n")
		section, _, _ = strings.Cut(section, "\n\n")
		examples := 0
		for _, line := range strings.Split(section, "\n") {
			_, ids, ok := strings.Cut(line, "shadowdiff "+tc.help[0]+" delete ")
			if !ok {
				continue
			}
			examples++
			for _, id := range strings.Fields(ids) {
				if shape(id) != shape(tc.id) {
					t.Errorf("%v: example %q uses id %q; the collector's ids look like %q", tc.help, strings.TrimSpace(line), id, tc.id)
				}
			}
		}
		if examples == 0 {
			t.Errorf("%v shows no delete example:\n%s", tc.help, r)
		}
	}
}

// subscribed is a server option that tells when a WatchRegressions call
// has subscribed (the handler sends the headers then).
func subscribed() (grpc.ServerOption, <-chan struct{}) {
	ch := make(chan struct{}, 16)
	return grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != shadowdiffv1.Query_WatchRegressions_FullMethodName {
			return handler(srv, ss)
		}
		return handler(srv, &headerSignal{ServerStream: ss, sent: ch})
	}), ch
}

type headerSignal struct {
	grpc.ServerStream
	sent chan<- struct{}
}

func (s *headerSignal) SendHeader(md metadata.MD) error {
	err := s.ServerStream.SendHeader(md)
	s.sent <- struct{}{}
	return err
}

// startWatch runs the CLI's watch in the background until ctx ends.
func startWatch(ctx context.Context, c *testCollector, args ...string) <-chan result {
	done := make(chan result, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		code := Main(ctx, append([]string{"--collector", c.addr, "watch"}, args...), &stdout, &stderr, func(string) string { return "" })
		done <- result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	}()
	return done
}

func wait(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: timed out", what)
	}
}

// A collector that shuts down ends the watch with an error that says so,
// not "context canceled" as if the user had interrupted it.
func TestWatchCollectorShutsDown(t *testing.T) {
	opt, sent := subscribed()
	c := startCollector(t, server.Options{ServerOptions: []grpc.ServerOption{opt}})
	done := startWatch(context.Background(), c)
	wait(t, "watch subscribed", sent)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	r := <-done
	want := "Watching every endpoint at " + c.addr + " for new regressions; Ctrl-C stops.\n" +
		"Error: the collector at " + c.addr + " closed the stream: it is shutting down or the connection was lost (Unavailable: collector is shutting down"
	if r.code != ExitFailed || !strings.HasPrefix(r.stderr, want) || strings.Contains(r.stderr, "\nError: context canceled") {
		t.Errorf("watch after the collector shut down: %s\nwant stderr starting with %q", r, want)
	}
}

// The user's own interruption (Ctrl-C cancels Main's context) ends the
// watch quietly, with exit 0.
func TestWatchInterrupted(t *testing.T) {
	opt, sent := subscribed()
	c := startCollector(t, server.Options{ServerOptions: []grpc.ServerOption{opt}})
	ctx, cancel := context.WithCancel(context.Background())
	done := startWatch(ctx, c)
	wait(t, "watch subscribed", sent)
	cancel()
	// No error; at most the line saying it watches (the interruption may
	// come before the collector's headers).
	if r := <-done; r.code != ExitOK || strings.Contains(r.stderr, "Error") {
		t.Errorf("watch interrupted: %s", r)
	}
}

// A watch the collector had accepted and that ended on the collector's
// side says so, whatever the status.
func TestStreamClosed(t *testing.T) {
	c := &client{opts: &globalOptions{collector: "collector:9090"}}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{status.Error(codes.Unavailable, "collector is shutting down; reconnect to resume the stream"),
			"the collector at collector:9090 closed the stream: it is shutting down or the connection was lost (Unavailable: collector is shutting down; reconnect to resume the stream)"},
		{status.Error(codes.Unavailable, "error reading from server: EOF"),
			"the collector at collector:9090 closed the stream: it is shutting down or the connection was lost (Unavailable: error reading from server: EOF)"},
		// How older collectors ended watches at shutdown.
		{status.Error(codes.Canceled, "context canceled"),
			"the collector at collector:9090 closed the stream: it is shutting down (Canceled: context canceled)"},
		{status.Error(codes.Internal, "boom"),
			"the collector at collector:9090 closed the stream: Internal: boom"},
	} {
		if got := c.streamClosed(tc.err).Error(); got != tc.want {
			t.Errorf("streamClosed(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// An endpoint name the collector has not seen is not refused (it may be an
// Envoy route name, and rules may come before the traffic) but noted.
func TestUnseenEndpointIsNoted(t *testing.T) {
	opt, sent := subscribed()
	c := startCollector(t, server.Options{ServerOptions: []grpc.ServerOption{opt}})
	c.ingest(t, seedEndpoint("products", productsPath, 3, productsBody))
	c.waitCompared(t, 3)
	known := "GET " + productsPath
	note := `Note: no endpoint named "GET /api/prodcts" has been seen yet; `

	r := run(t, c, "noise", "add", "body.stock", "--endpoint", "GET /api/prodcts")
	if r.code != ExitOK || !strings.Contains(r.stdout, "noise rule nr-") ||
		!strings.HasPrefix(r.stderr, note+"the rule applies to its traffic once it arrives") {
		t.Errorf("noise add on an unseen endpoint: %s", r)
	}
	if r := run(t, c, "noise", "add", "body.stock", "--endpoint", known); r.code != ExitOK || r.stderr != "" {
		t.Errorf("noise add on a known endpoint: %s", r)
	}
	if r := run(t, c, "noise", "add", "headers.date"); r.code != ExitOK || r.stderr != "" {
		t.Errorf("noise add for all endpoints: %s", r)
	}

	for _, tc := range []struct{ endpoint, stderr string }{
		{"GET /api/prodcts", note + "watching for it anyway"},
		{known, ""},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		done := startWatch(ctx, c, tc.endpoint)
		wait(t, "watch subscribed", sent)
		cancel()
		r := <-done
		// The "Watching ..." line comes once the client has seen the
		// subscription, which the cancel may or may not come before.
		r.stderr = regexp.MustCompile(`(?m)^Watching .*\n`).ReplaceAllString(r.stderr, "")
		if r.code != ExitOK || !strings.HasPrefix(r.stderr, tc.stderr) || (tc.stderr == "") != (r.stderr == "") {
			t.Errorf("watch %q: %s\nwant stderr starting with %q", tc.endpoint, r, tc.stderr)
		}
	}
}

// With no field given, the empty result reads "of any field".
func TestSamplesNoneMessage(t *testing.T) {
	c := seeded(t)
	products := c.names(t)[productsPath]
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"samples", products}, "No samples of any field in " + products + ".\n"},
		{[]string{"samples", products, "body.stock"}, "No samples of body.stock in " + products + ".\n"},
	} {
		if r := run(t, c, tc.args...); r.code != ExitOK || r.stdout != "" || r.stderr != tc.want {
			t.Errorf("%q: %s\nwant stderr %q", tc.args, r, tc.want)
		}
	}
}

// --version and `version` print the binary's version without a collector;
// -o json prints its parts.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		r := run(t, nil, args...)
		if r.code != ExitOK || !strings.HasPrefix(r.stdout, "shadowdiff ") || !strings.Contains(r.stdout, runtime.Version()) ||
			strings.Count(r.stdout, "\n") != 1 || r.stderr != "" {
			t.Errorf("%q: %s\nwant the version line", args, r)
		}
	}
	r := run(t, nil, "version", "-o", "json")
	var v struct{ Version, GoVersion, Platform string }
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Version == "" || v.GoVersion != runtime.Version() ||
		v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version -o json: %v\n%s", err, r)
	}
}
