package console

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// fakeQuery is a small hand-written Query service used only to develop the
// UI before the collector engine exists. Tests that need real statistics use
// the engine.
type fakeQuery struct {
	shadowdiffv1.UnimplementedQueryServer
	mu     sync.Mutex
	eps    []*shadowdiffv1.EndpointSummary
	fields map[string][]*shadowdiffv1.FieldStats
	recs   []*shadowdiffv1.RequestRecord
	rules  []*shadowdiffv1.NoiseRule
	nextID int
}

func newFakeQuery() *fakeQuery {
	now := time.Now()
	f := &fakeQuery{fields: map[string][]*shadowdiffv1.FieldStats{}}
	mk := func(name string, compared, diff, noise uint64, rating shadowdiffv1.Rating, verdict shadowdiffv1.Verdict) *shadowdiffv1.EndpointSummary {
		return &shadowdiffv1.EndpointSummary{
			Endpoint: name, Method: strings.Fields(name)[0], Requests: compared + 5, Compared: compared,
			RawDifferent: diff + noise, NoiseDifferent: noise, RegressionDifferent: diff,
			DifferenceRate: float64(diff) / float64(compared), NoiseRate: float64(noise) / float64(compared),
			SkippedSideEffect: 3, Incomplete: &shadowdiffv1.Incomplete{MissingCandidate: 2},
			Verdict: verdict, Rating: rating, HasSecondary: true,
			FirstSeen: timestamppb.New(now.Add(-time.Hour)), LastSeen: timestamppb.New(now),
		}
	}
	f.eps = []*shadowdiffv1.EndpointSummary{
		mk("GET /api/orders/{id}", 300, 300, 300, shadowdiffv1.Rating_RATING_POOR, shadowdiffv1.Verdict_VERDICT_REGRESSION),
		mk("GET /api/time", 300, 0, 300, shadowdiffv1.Rating_RATING_PERFECT, shadowdiffv1.Verdict_VERDICT_CLEAN),
		mk("GET /api/products", 300, 0, 0, shadowdiffv1.Rating_RATING_PERFECT, shadowdiffv1.Verdict_VERDICT_CLEAN),
	}
	f.eps[0].SignificantFields = 1
	f.eps[0].DiffyFields = 1
	f.fields["GET /api/orders/{id}"] = []*shadowdiffv1.FieldStats{
		{Path: "body.order.total", RawDifferences: 300, Total: 300, DiffyRelative: 100, DiffyAbsolute: 100, DiffyReported: true,
			Significant: true, PValue: 1e-12, Confidence: 1 - 1e-12, ExcessRate: 1, ExcessRateLower: 0.98, MinSamples: 200,
			Reason: "differs in 300 of 300 compared requests, noise explains 0", Definite: 300, NoiseClass: shadowdiffv1.NoiseClass_NOISE_CLASS_NEVER,
			RawKinds: []*shadowdiffv1.KindCount{{Kind: shadowdiffv1.DiffKind_DIFF_KIND_VALUE, Count: 300}}},
		{Path: "body.meta.generated_at", RawDifferences: 300, NoiseDifferences: 300, Total: 300, MinSamples: 200, PValue: 1, NoiseClass: shadowdiffv1.NoiseClass_NOISE_CLASS_ALWAYS,
			Reason: "noise explains every difference", RawKinds: []*shadowdiffv1.KindCount{{Kind: shadowdiffv1.DiffKind_DIFF_KIND_VALUE, Count: 300}}},
		{Path: "body.items[].sku", Total: 300, MinSamples: 200, PValue: 1, NoiseClass: shadowdiffv1.NoiseClass_NOISE_CLASS_NEVER},
		{Path: "headers.date", RawDifferences: 300, NoiseDifferences: 300, Total: 300, MinSamples: 200, PValue: 1, NoiseClass: shadowdiffv1.NoiseClass_NOISE_CLASS_ALWAYS},
		{Path: "status", Total: 300, MinSamples: 200, PValue: 1, NoiseClass: shadowdiffv1.NoiseClass_NOISE_CLASS_NEVER},
	}
	entry := func(path string, h uint64, raw *string) *shadowdiffv1.FieldEntry {
		return &shadowdiffv1.FieldEntry{Path: path, Type: shadowdiffv1.JsonType_JSON_TYPE_NUMBER, Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_DECIMAL, ValueHash: h, Occurrences: 1, RawValue: raw}
	}
	dig := func(role shadowdiffv1.Role, total string, gen uint64) *shadowdiffv1.ResponseDigest {
		return &shadowdiffv1.ResponseDigest{PairingKey: "req-1", Role: role, Status: 200,
			Request: &shadowdiffv1.RequestFingerprint{Method: "GET", Path: "/api/orders/7"},
			Headers: []*shadowdiffv1.HeaderDigest{{Name: "content-type", ValueHash: 11, RawValue: proto.String("application/json")}, {Name: "date", ValueHash: gen}},
			Body: &shadowdiffv1.BodyDigest{ContentType: "application/json", Kind: shadowdiffv1.BodyKind_BODY_KIND_JSON, Hash: gen * 7, Fields: []*shadowdiffv1.FieldEntry{
				entry("order.total", uint64(len(total)), proto.String(total)), entry("meta.generated_at", gen, nil), entry("items[].sku", 99, nil)}}}
	}
	p, s, c := dig(shadowdiffv1.Role_ROLE_PRIMARY, "10.5", 1), dig(shadowdiffv1.Role_ROLE_SECONDARY, "10.5", 2), dig(shadowdiffv1.Role_ROLE_CANDIDATE, "10.50", 3)
	f.recs = []*shadowdiffv1.RequestRecord{{PairingKey: "req-1", Endpoint: "GET /api/orders/{id}", Time: timestamppb.New(now), Primary: p, Secondary: s, Candidate: c,
		Differences: []*shadowdiffv1.FieldDifference{
			{Path: "body.order.total", Kind: shadowdiffv1.DiffKind_DIFF_KIND_VALUE, Comparison: shadowdiffv1.Comparison_COMPARISON_RAW, Left: p.Body.Fields[0], Right: c.Body.Fields[0], Definite: true},
			{Path: "body.meta.generated_at", Kind: shadowdiffv1.DiffKind_DIFF_KIND_VALUE, Comparison: shadowdiffv1.Comparison_COMPARISON_RAW, Left: p.Body.Fields[1], Right: c.Body.Fields[1], Noise: true},
			{Path: "body.meta.generated_at", Kind: shadowdiffv1.DiffKind_DIFF_KIND_VALUE, Comparison: shadowdiffv1.Comparison_COMPARISON_NOISE, Left: p.Body.Fields[1], Right: s.Body.Fields[1], Noise: true},
		}}}
	return f
}

func (f *fakeQuery) ListEndpoints(ctx context.Context, r *shadowdiffv1.ListEndpointsRequest) (*shadowdiffv1.ListEndpointsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &shadowdiffv1.ListEndpointsResponse{Totals: &shadowdiffv1.Totals{}}
	for _, e := range f.eps {
		e = f.summary(e)
		resp.Endpoints = append(resp.Endpoints, e)
		resp.Totals.Requests += e.Requests
		resp.Totals.Compared += e.Compared
		resp.Totals.SkippedSideEffect += e.SkippedSideEffect
		resp.Totals.Incomplete += e.Incomplete.GetMissingCandidate()
	}
	return resp, nil
}

func (f *fakeQuery) rule(ep, path string) string {
	for _, r := range f.rules {
		if (r.Endpoint == "" || r.Endpoint == ep) && strings.HasPrefix(path, r.PathPrefix) {
			return r.Id
		}
	}
	return ""
}

// summary recomputes the verdict from the rules, as the engine would.
func (f *fakeQuery) summary(e *shadowdiffv1.EndpointSummary) *shadowdiffv1.EndpointSummary {
	e = proto.Clone(e).(*shadowdiffv1.EndpointSummary)
	var sig uint32
	for _, fs := range f.fields[e.Endpoint] {
		if fs.Significant && f.rule(e.Endpoint, fs.Path) == "" {
			sig++
		}
	}
	e.SignificantFields = sig
	if sig == 0 && e.Verdict == shadowdiffv1.Verdict_VERDICT_REGRESSION {
		e.Verdict = shadowdiffv1.Verdict_VERDICT_CLEAN
		e.RegressionDifferent, e.DifferenceRate, e.Rating = 0, 0, shadowdiffv1.Rating_RATING_PERFECT
	}
	return e
}

func (f *fakeQuery) ListFields(ctx context.Context, r *shadowdiffv1.ListFieldsRequest) (*shadowdiffv1.ListFieldsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Endpoint == "" {
		return nil, status.Error(codes.InvalidArgument, "endpoint: required")
	}
	for _, e := range f.eps {
		if e.Endpoint != r.Endpoint {
			continue
		}
		resp := &shadowdiffv1.ListFieldsResponse{Endpoint: f.summary(e)}
		for _, fs := range f.fields[e.Endpoint] {
			fs = proto.Clone(fs).(*shadowdiffv1.FieldStats)
			fs.SuppressedByRule = f.rule(e.Endpoint, fs.Path)
			if fs.SuppressedByRule != "" {
				fs.Significant = false
				if !r.IncludeNoise {
					continue
				}
			}
			resp.Fields = append(resp.Fields, fs)
		}
		return resp, nil
	}
	return nil, status.Errorf(codes.NotFound, "endpoint %q not found", r.Endpoint)
}

func (f *fakeQuery) ListSamples(ctx context.Context, r *shadowdiffv1.ListSamplesRequest) (*shadowdiffv1.ListSamplesResponse, error) {
	resp := &shadowdiffv1.ListSamplesResponse{}
	for _, rec := range f.recs {
		if rec.Endpoint == r.Endpoint {
			resp.Samples = append(resp.Samples, rec)
		}
	}
	return resp, nil
}

func (f *fakeQuery) GetRequest(ctx context.Context, r *shadowdiffv1.GetRequestRequest) (*shadowdiffv1.RequestRecord, error) {
	for _, rec := range f.recs {
		if rec.PairingKey == r.PairingKey {
			return rec, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "request %q not found", r.PairingKey)
}

func (f *fakeQuery) CreateNoiseRule(ctx context.Context, r *shadowdiffv1.CreateNoiseRuleRequest) (*shadowdiffv1.NoiseRule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.GetRule().GetPathPrefix() == "" {
		return nil, status.Error(codes.InvalidArgument, "rule.path_prefix: required")
	}
	f.nextID++
	rule := proto.Clone(r.Rule).(*shadowdiffv1.NoiseRule)
	rule.Id = fmt.Sprintf("r%d", f.nextID)
	rule.Created = timestamppb.Now()
	f.rules = append(f.rules, rule)
	return rule, nil
}

func (f *fakeQuery) ListNoiseRules(ctx context.Context, r *shadowdiffv1.ListNoiseRulesRequest) (*shadowdiffv1.ListNoiseRulesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &shadowdiffv1.ListNoiseRulesResponse{}
	for _, rule := range f.rules {
		if r.Endpoint == "" || rule.Endpoint == "" || rule.Endpoint == r.Endpoint {
			resp.Rules = append(resp.Rules, rule)
		}
	}
	resp.Suggested = []*shadowdiffv1.SuggestedNoiseRule{{Rule: &shadowdiffv1.NoiseRule{Endpoint: "GET /api/orders/{id}", PathPrefix: "body.meta.generated_at"}, Reason: "differs between primary and secondary in 100 % of requests"}}
	return resp, nil
}

func (f *fakeQuery) DeleteNoiseRule(ctx context.Context, r *shadowdiffv1.DeleteNoiseRuleRequest) (*shadowdiffv1.DeleteNoiseRuleResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, rule := range f.rules {
		if rule.Id == r.Id {
			f.rules = append(f.rules[:i], f.rules[i+1:]...)
			return &shadowdiffv1.DeleteNoiseRuleResponse{}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "rule %q not found", r.Id)
}

func (f *fakeQuery) WatchRegressions(r *shadowdiffv1.WatchRegressionsRequest, s grpc.ServerStreamingServer[shadowdiffv1.RegressionEvent]) error {
	if err := s.Send(&shadowdiffv1.RegressionEvent{Time: timestamppb.Now(), Endpoint: "GET /api/orders/{id}", Field: f.fields["GET /api/orders/{id}"][0]}); err != nil {
		return err
	}
	<-s.Context().Done()
	return s.Context().Err()
}
