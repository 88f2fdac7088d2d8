package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Cached overviews stay right while ingest, queries and rule changes run
// at once: at the end each endpoint's overview equals its view computed
// afresh by ListFields, and its summary from the buckets added up without
// the cached sum (a range with an end). Run with -race to check the
// locking too.
func TestOverviewsUnderConcurrentIngestAndQueries(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{MinSamples: 20})
	defer e.Close()
	q, ctx := e.QueryServer(), context.Background()

	var writers, readers sync.WaitGroup
	for w := range 2 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 150 {
				clk.Add(time.Second)
				path := fmt.Sprintf("/%c/%d", 'a'+i%4, i)
				var ds []*shadowdiffv1.ResponseDigest
				for r, role := range []shadowdiffv1.Role{primary, secondary, candidate} {
					total := "10.5"
					if role == candidate && i%3 != 0 {
						total = "11"
					}
					ds = append(ds, at(clk, dg(fmt.Sprint("w", w, "-", i), role, path, 200,
						f{"meta.at", tStr, sTime, fmt.Sprint(i, r)}, f{"order.total", tStr, sText, total})))
				}
				if _, rej, err := e.Ingest(ctx, ds); err != nil || len(rej) > 0 {
					t.Errorf("ingest: %v %v", rej, err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	// repeat runs step in a goroutine until stop closes or step fails.
	repeat := func(step func() error) {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := step(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	listEndpoints := func() error {
		if _, err := q.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{}); err != nil {
			return fmt.Errorf("ListEndpoints: %w", err)
		}
		return nil
	}
	repeat(func() error {
		_, _ = q.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: "GET /a/{id}"})
		return listEndpoints()
	})
	repeat(func() error {
		rule, err := q.CreateNoiseRule(ctx, &shadowdiffv1.CreateNoiseRuleRequest{Rule: &shadowdiffv1.NoiseRule{Endpoint: "GET /b/{id}", PathPrefix: "body.order"}})
		if err != nil {
			return fmt.Errorf("CreateNoiseRule: %w", err)
		}
		if err := listEndpoints(); err != nil {
			return err
		}
		if _, err := q.DeleteNoiseRule(ctx, &shadowdiffv1.DeleteNoiseRuleRequest{Id: rule.Id}); err != nil {
			return fmt.Errorf("DeleteNoiseRule: %w", err)
		}
		return nil
	})
	writers.Wait()
	close(stop)
	readers.Wait()
	// Cached now, then one more request for each endpoint: only their
	// data changes, not the rules.
	if _, err := q.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		path := fmt.Sprintf("/%c/%d", 'a'+i, 1000+i)
		ingest(t, e, dg("last-"+path, primary, path, 200), dg("last-"+path, secondary, path, 200), dg("last-"+path, candidate, path, 500))
	}

	list, err := q.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{})
	if err != nil || len(list.Endpoints) != 4 {
		t.Fatalf("ListEndpoints: %d endpoints, %v", len(list.GetEndpoints()), err)
	}
	uncached, err := q.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{Range: &shadowdiffv1.TimeRange{End: timestamppb.New(clk.Now().Add(time.Hour))}})
	if err != nil || len(uncached.Endpoints) != 4 {
		t.Fatalf("ListEndpoints with an end: %d endpoints, %v", len(uncached.GetEndpoints()), err)
	}
	if !proto.Equal(list, uncached) {
		t.Errorf("cached overviews\n%v\nwant the buckets added up\n%v", list, uncached)
	}
	regressions := 0
	for _, s := range list.Endpoints {
		fresh, err := q.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: s.Endpoint})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(s, fresh.Endpoint) {
			t.Errorf("%s: overview\n%v\nwant the fresh view\n%v", s.Endpoint, s, fresh.Endpoint)
		}
		if s.Verdict == shadowdiffv1.Verdict_VERDICT_REGRESSION {
			regressions++
		}
	}
	if regressions != 4 {
		t.Errorf("%d endpoints with a regression, want 4 (the candidate changes order.total in two requests of three)", regressions)
	}
}

// The overview of a time range is cached too, under the run of buckets it
// covers: another window, or a request in the window, is not served the
// cached one.
func TestRangedOverviewsFollowWindowsAndWrites(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	t0 := clk.Now()
	request := func(key string, at time.Time) {
		t.Helper()
		d := func(role shadowdiffv1.Role) *shadowdiffv1.ResponseDigest {
			d := dg(key, role, "/orders/1", 200)
			d.StartUnixNanos = at.UnixNano()
			return d
		}
		ingest(t, e, d(primary), d(candidate))
	}
	request("early", t0)
	request("late-1", t0.Add(10*time.Minute))
	clk.Add(11 * time.Minute)
	requestsSince := func(start time.Time) uint64 {
		t.Helper()
		resp, err := e.QueryServer().ListEndpoints(context.Background(), &shadowdiffv1.ListEndpointsRequest{
			Range: &shadowdiffv1.TimeRange{Start: timestamppb.New(start)}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetTotals().GetRequests()
	}
	for _, step := range []struct {
		name  string
		write string
		start time.Time
		want  uint64
	}{
		{"the last five minutes", "", t0.Add(5 * time.Minute), 1},
		{"again", "", t0.Add(6 * time.Minute), 1},
		{"after a request in the window", "late-2", t0.Add(6 * time.Minute), 2},
		{"a window with the early bucket", "", t0.Add(-time.Minute), 3},
		{"the last five minutes again", "", t0.Add(5 * time.Minute), 2},
	} {
		if step.write != "" {
			request(step.write, t0.Add(10*time.Minute))
		}
		if got := requestsSince(step.start); got != step.want {
			t.Errorf("%s: %d requests, want %d", step.name, got, step.want)
		}
	}
}
