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
