package engine

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

const (
	defaultSampleLimit = 20
	maxSampleLimit     = 1000
)

func (q *queryServer) ListSamples(ctx context.Context, r *shadowdiffv1.ListSamplesRequest) (*shadowdiffv1.ListSamplesResponse, error) {
	if r.GetEndpoint() == "" {
		return nil, status.Error(codes.InvalidArgument, "endpoint: required")
	}
	if r.GetLimit() > maxSampleLimit {
		return nil, status.Errorf(codes.InvalidArgument, "limit: at most %d", maxSampleLimit)
	}
	if r.GetPath() != "" {
		if err := validPrefix("path", r.GetPath()); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	limit := int(r.GetLimit())
	if limit == 0 {
		limit = defaultSampleLimit
	}
	rng, err := parseRange(r.GetRange())
	if err != nil {
		return nil, err
	}
	after, err := parsePageToken(r.GetPageToken())
	if err != nil {
		return nil, err
	}
	e := q.e
	e.mu.RLock()
	_, known := e.aggs.eps[r.Endpoint]
	e.mu.RUnlock()
	if !known {
		return nil, status.Errorf(codes.NotFound, "endpoint %q not found", truncate(r.Endpoint, maxEndpointLen))
	}
	sq := store.SampleQuery{Endpoint: r.Endpoint, PathPrefix: lowerHeaderName(r.GetPath()), DefiniteOnly: r.GetDefiniteOnly()}
	if !rng.start.IsZero() {
		sq.StartNano = clampedNano(rng.start)
	}
	if !rng.end.IsZero() {
		sq.EndNano = clampedNano(rng.end)
	}
	refs, err := e.st.Samples(sq)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "samples: %v", err)
	}
	resp := &shadowdiffv1.ListSamplesResponse{}
	var last store.SampleRef
	for _, ref := range refs {
		if after != nil && !olderThan(ref, *after) {
			continue
		}
		if len(resp.Samples) == limit {
			resp.NextPageToken = fmt.Sprintf("%d:%s", last.TimeNano, last.Key)
			break
		}
		rec, ok, err := e.st.Record(ref.Key)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "sample %q: %v", ref.Key, err)
		}
		if ok && ref.Matches(rec) { // not a later request that took the key since
			resp.Samples = append(resp.Samples, rec)
			last = ref
		}
	}
	e.annotate(r.Endpoint, resp.Samples...)
	return resp, nil
}

// olderThan reports whether ref comes after the cursor in newest-first order.
func olderThan(ref, cursor store.SampleRef) bool {
	if ref.TimeNano != cursor.TimeNano {
		return ref.TimeNano < cursor.TimeNano
	}
	return ref.Key < cursor.Key
}

func parsePageToken(tok string) (*store.SampleRef, error) {
	if tok == "" {
		return nil, nil
	}
	ts, key, ok := strings.Cut(tok, ":")
	n, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || key == "" {
		return nil, status.Errorf(codes.InvalidArgument, "page_token: not a token from a previous response: %q", truncate(tok, 80))
	}
	return &store.SampleRef{TimeNano: n, Key: key}, nil
}

// annotate marks raw differences covered by noise rules or learnt noise,
// so rules apply to stored results too.
func (e *Engine) annotate(endpoint string, recs ...*shadowdiffv1.RequestRecord) {
	if len(recs) == 0 {
		return
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	ea := e.aggs.eps[endpoint]
	var sum *store.Bucket
	if ea != nil {
		var done func()
		sum, _, done = ea.sharedSum(rangeAll)
		defer done()
	}
	for _, rec := range recs {
		e.annotateRecord(rec, sum)
	}
}

func (e *Engine) annotateRecord(rec *shadowdiffv1.RequestRecord, sum *store.Bucket) {
	for _, d := range rec.Differences {
		if d.Comparison != shadowdiffv1.Comparison_COMPARISON_RAW || d.Noise {
			continue
		}
		if e.ruleFor(rec.Endpoint, d.Path) != "" {
			d.Noise = true
			continue
		}
		if sum == nil {
			continue
		}
		if fc := sum.Fields[d.Path]; fc != nil {
			if structural(d.Kind) {
				d.Noise = structurallyNoisy(fc)
			} else {
				c := noiseClass(fc)
				d.Noise = c == shadowdiffv1.NoiseClass_NOISE_CLASS_SOMETIMES || c == shadowdiffv1.NoiseClass_NOISE_CLASS_ALWAYS
			}
		}
	}
}

func (q *queryServer) GetRequest(ctx context.Context, r *shadowdiffv1.GetRequestRequest) (*shadowdiffv1.RequestRecord, error) {
	if r.GetPairingKey() == "" {
		return nil, status.Error(codes.InvalidArgument, "pairing_key: required")
	}
	if len(r.PairingKey) > maxPairingKeyLen {
		return nil, status.Errorf(codes.InvalidArgument, "pairing_key: longer than %d bytes", maxPairingKeyLen)
	}
	e := q.e
	if rec := e.pendingRecord(r.PairingKey); rec != nil {
		return rec, nil
	}
	rec, ok, err := e.st.Record(r.PairingKey)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "request %q: %v", r.PairingKey, err)
	}
	if !ok {
		return nil, status.Errorf(codes.NotFound, "request %q not found", truncate(r.PairingKey, maxPairingKeyLen))
	}
	e.annotate(rec.Endpoint, rec)
	return rec, nil
}

// pendingRecord describes a request that is still waiting for digests.
func (e *Engine) pendingRecord(key string) *shadowdiffv1.RequestRecord {
	e.mu.RLock()
	defer e.mu.RUnlock()
	p := e.pairer.pending[key]
	if p == nil {
		return nil
	}
	var waiting []string
	for _, role := range []shadowdiffv1.Role{primary, secondary, candidate} {
		if !p.has(role) {
			waiting = append(waiting, roleLabel(role))
		}
	}
	rec := &shadowdiffv1.RequestRecord{
		PairingKey: key, Endpoint: e.endpoints.of(p.first()).key, Time: timestamppb.New(e.requestTime(p, e.opts.Now())),
		NotComparedReason: "pending: waiting for " + strings.Join(waiting, ", "),
	}
	rec.Primary, rec.Secondary, rec.Candidate = p.full(primary).CloneVT(), p.full(secondary).CloneVT(), p.full(candidate).CloneVT()
	return rec
}

// clampedNano is t in Unix nanoseconds, clamped to what an int64 holds
// (years 1678 to 2262): UnixNano of a time outside is undefined, and a
// range from 1600 or to 3000 is a valid way to say "everything".
func clampedNano(t time.Time) int64 {
	switch {
	case t.Before(minNanoTime):
		return math.MinInt64
	case t.After(maxNanoTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)
