package engine

import (
	"context"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// queryServer implements the Query service over an Engine.
type queryServer struct {
	shadowdiffv1.UnimplementedQueryServer
	e *Engine
}

var _ shadowdiffv1.QueryServer = (*queryServer)(nil)

// parseRange validates a TimeRange.
func parseRange(r *shadowdiffv1.TimeRange) (timeRange, error) {
	var tr timeRange
	if r == nil {
		return tr, nil
	}
	if r.Start != nil {
		if err := r.Start.CheckValid(); err != nil {
			return tr, status.Errorf(codes.InvalidArgument, "range.start: %v", err)
		}
		tr.start = r.Start.AsTime()
	}
	if r.End != nil {
		if err := r.End.CheckValid(); err != nil {
			return tr, status.Errorf(codes.InvalidArgument, "range.end: %v", err)
		}
		tr.end = r.End.AsTime()
	}
	if r.Start != nil && r.End != nil && !tr.end.After(tr.start) {
		return tr, status.Error(codes.InvalidArgument, "range.end: must be after range.start")
	}
	return tr, nil
}

func (q *queryServer) ListEndpoints(ctx context.Context, r *shadowdiffv1.ListEndpointsRequest) (*shadowdiffv1.ListEndpointsResponse, error) {
	rng, err := parseRange(r.GetRange())
	if err != nil {
		return nil, err
	}
	e := q.e
	e.mu.RLock()
	defer e.mu.RUnlock()
	resp := &shadowdiffv1.ListEndpointsResponse{Totals: &shadowdiffv1.Totals{DroppedByFilters: e.dropped}}
	for _, ea := range e.aggs.eps {
		ov := e.overviewLocked(ea, rng)
		if ov == nil {
			continue
		}
		resp.Endpoints = append(resp.Endpoints, ov.summary)
		t, c := resp.Totals, &ov.counts
		t.Requests += c.Requests
		t.Compared += c.Compared
		t.SkippedSideEffect += c.SkippedSideEffect
		t.Incomplete += c.Incomplete
		t.FingerprintMismatch += c.FingerprintMismatch
		t.Duplicates += c.Duplicates
	}
	slices.SortFunc(resp.Endpoints, compareEndpoints)
	return resp, nil
}

func (q *queryServer) ListFields(ctx context.Context, r *shadowdiffv1.ListFieldsRequest) (*shadowdiffv1.ListFieldsResponse, error) {
	if r.GetEndpoint() == "" {
		return nil, status.Error(codes.InvalidArgument, "endpoint: required")
	}
	rng, err := parseRange(r.GetRange())
	if err != nil {
		return nil, err
	}
	e := q.e
	e.mu.RLock()
	defer e.mu.RUnlock()
	ea := e.aggs.eps[r.Endpoint]
	if ea == nil {
		return nil, status.Errorf(codes.NotFound, "endpoint %q not found", truncate(r.Endpoint, maxEndpointLen))
	}
	resp := &shadowdiffv1.ListFieldsResponse{}
	v, ok := e.viewLocked(ea, rng, keepAll)
	if !ok {
		// Known endpoint without requests in the range: an empty summary.
		resp.Endpoint = &shadowdiffv1.EndpointSummary{Endpoint: ea.key, Method: ea.method, RouteName: ea.routeName,
			PathTemplate: ea.pathTemplate, Incomplete: &shadowdiffv1.Incomplete{},
			Verdict: shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA, HasSecondary: ea.hasSecondary,
			AttainablePValue: 1, SignificanceLevel: e.cfg.alpha, MinSamples: e.cfg.minSamples, VerdictReason: "no request in the time range"}
		return resp, nil
	}
	resp.Endpoint = v.summary
	for _, fs := range v.fields {
		if fs.SuppressedByRule != "" && !r.IncludeNoise {
			continue
		}
		resp.Fields = append(resp.Fields, fs)
	}
	return resp, nil
}

// WatchRegressions streams fields as they become significant regressions
// until the client leaves or the engine closes.
func (q *queryServer) WatchRegressions(r *shadowdiffv1.WatchRegressionsRequest, s grpc.ServerStreamingServer[shadowdiffv1.RegressionEvent]) error {
	e := q.e
	if r.GetEndpoint() != "" && len(r.Endpoint) > maxEndpointKeyLen {
		return status.Errorf(codes.InvalidArgument, "endpoint: longer than %d bytes", maxEndpointKeyLen)
	}
	w := e.watch.subscribe(r.GetEndpoint())
	defer e.watch.unsubscribe(w)
	// Headers now tell the client the subscription is live.
	if err := s.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	ctx := s.Context()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-e.watch.done:
			return status.Error(codes.Unavailable, "collector is shutting down")
		case ev := <-w.ch:
			if err := s.Send(ev); err != nil {
				return err
			}
		}
	}
}

func (q *queryServer) Clear(ctx context.Context, r *shadowdiffv1.ClearRequest) (*shadowdiffv1.ClearResponse, error) {
	e := q.e
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if _, err := e.prepareWrite(); err != nil {
		return nil, status.Errorf(codes.Internal, "clear: %v", err)
	}
	// Batches queued before the clear must not write results back after it.
	if err := e.barrier(); err != nil {
		return nil, status.Errorf(codes.Internal, "clear: %v", err)
	}
	var known bool
	e.rlocked(func() { _, known = e.aggs.eps[r.GetEndpoint()] })
	if r.GetEndpoint() != "" && !known {
		return nil, status.Errorf(codes.NotFound, "endpoint %q not found", truncate(r.Endpoint, maxEndpointLen))
	}
	n, err := e.st.Clear(r.GetEndpoint())
	if err != nil {
		e.met.storeErrors.Inc()
		return nil, status.Errorf(codes.Internal, "clear: %v", err)
	}
	defer func() {
		if r := recover(); r != nil {
			// The store is cleared, the state in memory half: the next
			// writer reloads it.
			e.cq.invalidate()
			panic(r)
		}
	}()
	e.locked(func() {
		e.aggs.clearEndpoint(r.GetEndpoint())
		e.endpoints.forget() // the cleared endpoints no longer count against the cap
		e.repeats.forget(r.GetEndpoint())
		if r.GetEndpoint() == "" {
			e.dropped = 0
			clear(e.sampled)
		} else {
			delete(e.sampled, r.Endpoint)
		}
	})
	e.watch.poke()
	e.log.Info("results cleared", "endpoint", r.GetEndpoint(), "requests_deleted", n)
	return &shadowdiffv1.ClearResponse{RequestsDeleted: n}, nil
}

func now(e *Engine) *timestamppb.Timestamp {
	return timestamppb.New(e.opts.Now().Truncate(time.Microsecond))
}
