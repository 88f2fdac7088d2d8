package engine

import (
	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// The tests diff and count full digests; the engine works on responses
// (flat body fields). These adapters flatten the digests as finalize does.

func responseFor(d *shadowdiffv1.ResponseDigest) *response {
	if d == nil {
		return nil
	}
	d = d.CloneVT()
	sortDigest(d)
	v, _ := responseOf(d, nil)
	return &v
}

func diffDigests(l, r *shadowdiffv1.ResponseDigest) []fieldDiff {
	return (&differ{}).responses(nil, responseFor(l), responseFor(r))
}

func compareRequest(p, s, c *shadowdiffv1.ResponseDigest) *comparison {
	return compareResponses(responseFor(p), responseFor(s), responseFor(c))
}

func addCompared(b *store.Bucket, p *shadowdiffv1.ResponseDigest, cmp *comparison, lim limits) {
	countCompared(b, responseFor(p), cmp, lim)
}

func addRepeat(b *store.Bucket, prev, cur *shadowdiffv1.ResponseDigest, lim limits) {
	countRepeat(b, &differ{}, responseFor(prev), responseFor(cur), lim)
}
