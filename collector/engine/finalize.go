package engine

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// maxClockSkew bounds how far a sidecar's start time may be from the
// collector's clock before the arrival time is used instead.
const maxClockSkew = time.Hour

// requestTime is when the request started by the primary's sidecar clock
// (else another role's), or its arrival when that clock is implausible.
func (e *Engine) requestTime(r *pendingReq, now time.Time) time.Time {
	d := r.first()
	if ns := d.GetStartUnixNanos(); ns > 0 {
		t := time.Unix(0, ns)
		if t.After(now.Add(-e.opts.Retention)) && t.Before(now.Add(maxClockSkew)) {
			return t
		}
	}
	return r.arrival
}

// finalize classifies a closed request, diffs it when it can be compared,
// and adds it to the aggregates, records and samples.
func (w *writer) finalize(c closedReq, now time.Time) {
	e, r := w.e, c.req
	w.release(r)
	if c.reason == closedEvicted {
		e.met.evicted.Inc()
	}
	first := r.first()
	info := e.endpoints.of(first)
	e.pairer.setEndpoint(r.key, info)
	if c.reason != closedComplete && w.retried(r, info, now) {
		w.dropFields(r, nil)
		return
	}
	if info.overflow {
		e.countOverflow(info, first, now)
	}
	t := e.requestTime(r, now)
	b := e.aggs.bucket(info, t)
	rec := &shadowdiffv1.RequestRecord{PairingKey: r.key, Endpoint: info.key, Time: timestamppb.New(t)}
	var kept []flatEntry // fields the repeat cache keeps
	p, s, cd := r.digests[primary], r.digests[secondary], r.digests[candidate]
	outcome := "compared"
	switch {
	case fingerprintMismatch(r) != "":
		rec.NotComparedReason = "fingerprint mismatch: " + fingerprintMismatch(r)
		b.Counts.Requests++
		b.Counts.FingerprintMismatch++
		outcome = "fingerprint_mismatch"
	case sideEffect(r):
		rec.NotComparedReason = "skipped: side effect (the shadow was not sent upstream)"
		b.Counts.Requests++
		b.Counts.SkippedSideEffect++
		outcome = "skipped_side_effect"
	case !answered(p) || !answered(cd):
		rec.NotComparedReason = w.incomplete(b, r, info.key)
		outcome = "incomplete"
	default:
		if !answered(s) {
			s = nil
		}
		if s != nil {
			e.secondarySeen[info.key] = true
			e.aggs.endpoint(info).hasSecondary = true
		} else if e.secondarySeen[info.key] {
			b.Counts.MissingSecondary++
		}
		pv, cv := r.response(primary, &w.fin.fields[primary]), r.response(candidate, &w.fin.fields[candidate])
		var sv *response
		if s != nil {
			v := r.response(secondary, &w.fin.fields[secondary])
			sv = &v
		}
		cmp := &w.fin.cmp
		cmp.compare(&pv, sv, &cv)
		countCompared(b, &pv, cmp, e.lim)
		if s == nil {
			if fp, ok := fingerprintOf(info.key, p); ok {
				k := w.keep(&pv)
				kept = k.fields
				if prev := e.repeats.swap(fp, k); prev != nil {
					countRepeat(b, &cmp.df, prev, &pv, e.lim)
					e.bodyFields.recycle(prev.fields)
				}
			}
		}
		rec.Differences = cmp.differences()
		w.sample(b, info.key, t, r, rec)
	}
	rec.Primary, rec.Secondary, rec.Candidate = compact(p), compact(r.digests[secondary]), compact(cd)
	w.b.Records = append(w.b.Records, rec)
	w.countRequest(info.key, outcome)
	// Nothing refers to the request's fields now (records and samples
	// hold copies) but the repeat cache, which may keep the primary's.
	w.dropFields(r, kept)
}

// countOverflow counts a request past the endpoint cap, and logs it at
// most once a minute.
func (e *Engine) countOverflow(info endpointInfo, d *shadowdiffv1.ResponseDigest, now time.Time) {
	e.met.overflowed.Inc()
	e.overflowed++
	if !e.overflowWarned.IsZero() && now.Sub(e.overflowWarned) < time.Minute {
		return
	}
	path := d.GetEndpoint().GetPath()
	if path == "" {
		path = d.GetRequest().GetPath()
	}
	e.log.Warn("endpoint limit reached: requests to new endpoints are counted under METHOD {other}",
		"max_endpoints", e.opts.MaxEndpoints, "endpoints", len(e.aggs.eps), "endpoint", info.key, "path", truncate(path, 200),
		"requests_since_last_warning", e.overflowed,
		"hint", "raise --max-endpoints, or name paths with parameters by endpoint rules (shadowdiff endpoint-rules add)")
	e.overflowWarned, e.overflowed = now, 0
}

// dropFields recycles the request's body fields but kept.
func (w *writer) dropFields(r *pendingReq, kept []flatEntry) {
	for role, fs := range r.fields {
		if fs != nil && !sameSlice(fs, kept) {
			w.e.bodyFields.recycle(fs)
		}
		r.fields[role] = nil
	}
}

// retried reports whether a request that closed without completing is a
// retry of one already recorded, which the recent keys no longer knew (the
// engine restarted since, or more than MaxPending requests closed): its
// digests of roles the record has are counted as duplicates, the others
// are late, and the record stays. Recording it replaced the compared
// request with an incomplete one and counted the request twice. Only
// requests that did not complete are looked up: they are few.
func (w *writer) retried(r *pendingReq, info endpointInfo, now time.Time) bool {
	e := w.e
	rec, ok, err := e.st.Record(r.key)
	if err != nil {
		e.log.Warn("could not look up an earlier record of a closing request", "pairing_key", r.key, "err", err)
	}
	if !ok {
		return false
	}
	had := [numRoles]bool{primary: rec.Primary != nil, secondary: rec.Secondary != nil, candidate: rec.Candidate != nil}
	var b *store.Bucket // only when there is a duplicate to count: a bucket marks when requests were seen
	for role, d := range r.digests {
		if d != nil && had[role] {
			if b == nil {
				b = e.aggs.bucket(info, now)
			}
			b.Counts.Duplicates++
		}
	}
	return true
}

// sameSlice: a and b share their first element.
func sameSlice(a, b []flatEntry) bool {
	return len(a) > 0 && len(b) > 0 && &a[0] == &b[0]
}

// incomplete counts a request that lacks the primary or the candidate
// response and returns why.
func (w *writer) incomplete(b *store.Bucket, r *pendingReq, endpoint string) string {
	b.Counts.Requests++
	b.Counts.Incomplete++
	reason := "incomplete:"
	if !answered(r.digests[primary]) {
		b.Counts.MissingPrimary++
		reason += " " + missingWhy(r.digests[primary], "primary")
	}
	if !answered(r.digests[candidate]) {
		b.Counts.MissingCandidate++
		reason += " " + missingWhy(r.digests[candidate], "candidate")
	}
	if w.e.secondarySeen[endpoint] && !answered(r.digests[secondary]) {
		b.Counts.MissingSecondary++
		reason += " " + missingWhy(r.digests[secondary], "secondary")
	}
	return reason
}

func missingWhy(d *shadowdiffv1.ResponseDigest, role string) string {
	if d == nil {
		return "no " + role + " digest;"
	}
	return role + " had no response;"
}

// answered: the role's digest is there and carries a response.
func answered(d *shadowdiffv1.ResponseDigest) bool {
	return d != nil && d.Skip == shadowdiffv1.SkipReason_SKIP_REASON_UNSPECIFIED
}

func sideEffect(r *pendingReq) bool {
	for _, d := range r.digests {
		if d.GetSkip() == shadowdiffv1.SkipReason_SKIP_REASON_SIDE_EFFECT {
			return true
		}
	}
	return false
}

// bodySeen: the filter hashed the request body. A shadow whose side effect
// was blocked answered at the request headers and never saw the body.
func bodySeen(d *shadowdiffv1.ResponseDigest) bool {
	return d.GetSkip() != shadowdiffv1.SkipReason_SKIP_REASON_SIDE_EFFECT
}

// fingerprintMismatch names how the roles' requests differ, or "".
func fingerprintMismatch(r *pendingReq) string {
	ref := r.first().GetRequest()
	refRole := r.first().Role
	for role, d := range r.digests {
		if d == nil || d == r.first() || d.Request == nil || ref == nil {
			continue
		}
		q := d.Request
		var what string
		switch {
		case q.Method != ref.Method:
			what = "method"
		case q.Path != ref.Path:
			what = "path"
		case q.QueryHash != ref.QueryHash:
			what = "query"
		case bodySeen(d) && bodySeen(r.first()) && (q.BodyHash != ref.BodyHash || q.BodySize != ref.BodySize):
			what = "body"
		default:
			continue
		}
		return fmt.Sprintf("%s of %s differs from %s", what, roleLabel(shadowdiffv1.Role(role)), roleLabel(refRole))
	}
	return ""
}

// compact returns the digest without its body fields (the stored request
// record keeps only the differing entries; samples keep everything): a
// slim digest as it is.
func compact(d *shadowdiffv1.ResponseDigest) *shadowdiffv1.ResponseDigest {
	if d == nil || len(d.GetBody().GetFields()) == 0 {
		return d
	}
	return withoutFields(d)
}

// keep returns a response that may outlive the call: a flattened fresh
// digest is made slim (its scratch fields are reused by the next request).
func (w *writer) keep(v *response) *response {
	if v.src == nil {
		return &response{d: v.d, fields: v.fields}
	}
	d, fields := slim(v.d, w.e.paths)
	return &response{d: d, fields: fields}
}

// sample offers the request as a sample for each field that differed and
// that the bucket b counts. A field takes every sample until it has
// SamplesPerField, then at most one per sampleInterval (the store keeps
// the newest).
func (w *writer) sample(b *store.Bucket, endpoint string, t time.Time, r *pendingReq, rec *shadowdiffv1.RequestRecord) {
	e := w.e
	if e.opts.SamplesPerField <= 0 {
		return
	}
	nano := t.UnixNano()
	s := e.sampled[endpoint]
	if s == nil && len(rec.Differences) > 0 {
		s = &fieldsSampling{byPath: map[string]fieldSampling{}}
		e.sampled[endpoint] = s
	}
	var refs []store.SampleRef
	for _, d := range rec.Differences {
		// A field the full bucket refused has no results to show its
		// samples with, and id-keyed objects (a new path in every
		// response) would otherwise add samples without bound.
		if b.Fields[d.Path] == nil {
			continue
		}
		fs, ok := s.byPath[d.Path]
		if !ok && !s.room(nano, e.lim.maxFields) {
			// Each bucket counts its own fields: the state of all of
			// them would grow with every bucket.
			continue
		}
		definite := d.Comparison == shadowdiffv1.Comparison_COMPARISON_RAW && d.Definite
		st := &fs[0]
		if definite {
			st = &fs[1]
		}
		if st.n >= e.opts.SamplesPerField && nano-st.last < int64(sampleInterval) {
			continue
		}
		if slices.ContainsFunc(refs, func(r store.SampleRef) bool { return r.Path == d.Path && r.Definite == definite }) {
			continue
		}
		st.n = min(st.n+1, e.opts.SamplesPerField)
		st.last = max(st.last, nano)
		s.byPath[d.Path] = fs
		refs = append(refs, store.SampleRef{Endpoint: endpoint, Path: d.Path, Definite: definite, TimeNano: nano, Key: r.key})
	}
	if len(refs) == 0 {
		return
	}
	w.b.Samples = append(w.b.Samples, refs...)
	w.b.Full = append(w.b.Full, &shadowdiffv1.RequestRecord{
		PairingKey: rec.PairingKey, Endpoint: rec.Endpoint, Time: rec.Time,
		Primary: r.full(primary), Secondary: r.full(secondary), Candidate: r.full(candidate),
		Differences: rec.Differences,
	})
}
