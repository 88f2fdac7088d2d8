package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Sample time ranges reaching before 1678 or after 2262 mean what they say:
// UnixNano of such times is undefined, and a range from 1600 found nothing
// while one from 3000 found everything.
func TestListSamplesRangesBeyondNanoseconds(t *testing.T) {
	clk := newClock()
	_, c := servedShop(t, clk, Options{MinSamples: 100}, 3)
	year := func(y int) *timestamppb.Timestamp {
		return timestamppb.New(time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC))
	}
	for _, tc := range []struct {
		name       string
		start, end *timestamppb.Timestamp
		want       int
	}{
		{"from 1600", year(1600), nil, 3},
		{"to 3000", nil, year(3000), 3},
		{"to 9999", nil, year(9999), 3},
		{"1600 to 3000", year(1600), year(3000), 3},
		{"from 3000", year(3000), nil, 0},
		{"to 1600", nil, year(1600), 0},
	} {
		resp, err := c.ListSamples(context.Background(), &shadowdiffv1.ListSamplesRequest{Endpoint: "GET /orders/{id}",
			Path: "body.order.total", Range: &shadowdiffv1.TimeRange{Start: tc.start, End: tc.end}})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := len(resp.GetSamples()); got != tc.want {
			t.Errorf("%s: %d samples, want %d", tc.name, got, tc.want)
		}
	}
}

// An endpoint the collector named from a long path can be named in every
// query that takes an endpoint: rules and watches took only 512 bytes.
func TestLongEndpointNamesCanBeQueried(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	path := strings.Repeat("/1", maxPathLen/2) // templated: "/{id}" 4,096 times
	for _, role := range []shadowdiffv1.Role{primary, secondary, candidate} {
		ingest(t, e, at(clk, dg("long", role, path, 200, f{"a", tStr, sText, "x"})))
	}
	ep := "GET " + strings.Repeat("/{id}", maxPathLen/2)
	if _, ok := endpointsOf(t, e)[ep]; !ok {
		t.Fatalf("endpoint %q not listed", ep[:20])
	}
	c := serveQuery(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.CreateNoiseRule(ctx, &shadowdiffv1.CreateNoiseRuleRequest{Rule: &shadowdiffv1.NoiseRule{Endpoint: ep, PathPrefix: "body.a"}}); err != nil {
		t.Errorf("noise rule on the endpoint: %v", err)
	}
	// A refused watch ends at once; an accepted one waits for events.
	wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer wcancel()
	stream, err := c.WatchRegressions(wctx, &shadowdiffv1.WatchRegressionsRequest{Endpoint: ep})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, "watch of the endpoint", err, codes.DeadlineExceeded)
	_, err = c.CreateNoiseRule(ctx, &shadowdiffv1.CreateNoiseRuleRequest{Rule: &shadowdiffv1.NoiseRule{Endpoint: "GET /" + strings.Repeat("z", maxEndpointKeyLen), PathPrefix: "body.a"}})
	wantCode(t, "rule on an endpoint longer than any the collector makes", err, codes.InvalidArgument)
}

// Header names are case-insensitive: a rule or a sample query for
// "headers.Date" means the "date" header the digests carry.
func TestHeaderRulesIgnoreCase(t *testing.T) {
	clk := newClock()
	_, c := servedShop(t, clk, Options{MinSamples: 100}, 5)
	ctx := context.Background()
	rule, err := c.CreateNoiseRule(ctx, &shadowdiffv1.CreateNoiseRuleRequest{Rule: &shadowdiffv1.NoiseRule{Endpoint: "GET /time", PathPrefix: "headers.Date"}})
	if err != nil {
		t.Fatal(err)
	}
	if rule.GetPathPrefix() != "headers.date" {
		t.Errorf("stored prefix %q, want headers.date", rule.GetPathPrefix())
	}
	fields, err := c.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: "GET /time", IncludeNoise: true})
	if err != nil {
		t.Fatal(err)
	}
	suppressed := false
	for _, fs := range fields.GetFields() {
		if fs.GetPath() == "headers.date" {
			suppressed = fs.GetSuppressedByRule() != ""
		}
	}
	if !suppressed {
		t.Errorf("headers.date not listed as suppressed by a rule for headers.Date: %v", fields.GetFields())
	}
	samples, err := c.ListSamples(ctx, &shadowdiffv1.ListSamplesRequest{Endpoint: "GET /orders/{id}", Path: "headers.DATE"})
	if err != nil {
		t.Fatal(err)
	}
	if len(samples.GetSamples()) == 0 {
		t.Error("no samples for headers.DATE, the date header that differed in every request")
	}
}

// The filters' drop count belongs to no endpoint: clearing one keeps it,
// clearing everything resets it, also after a restart.
func TestClearAllResetsTheFiltersDrops(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	e := openEngine(t, dir, clk, Options{})
	seedShop(t, e, clk, 2)
	ctx := context.Background()
	if err := e.RecordDropped(ctx, 5); err != nil {
		t.Fatal(err)
	}
	c := serveQuery(t, e)
	dropped := func(step string, want uint64) {
		t.Helper()
		resp, err := c.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.GetTotals().GetDroppedByFilters(); got != want {
			t.Errorf("%s: dropped by filters %d, want %d", step, got, want)
		}
	}
	if _, err := c.Clear(ctx, &shadowdiffv1.ClearRequest{Endpoint: "GET /time"}); err != nil {
		t.Fatal(err)
	}
	dropped("after clearing one endpoint", 5)
	if _, err := c.Clear(ctx, &shadowdiffv1.ClearRequest{}); err != nil {
		t.Fatal(err)
	}
	dropped("after clearing all", 0)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openEngine(t, dir, clk, Options{})
	defer e.Close()
	c = serveQuery(t, e)
	dropped("after a restart", 0)
}
