package engine

import (
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// fieldOutcome joins, for one path, the raw (primary vs candidate) and the
// noise (primary vs secondary) difference of one request.
type fieldOutcome struct {
	path       string
	raw, noise shadowdiffv1.DiffKind
}

// explained reports whether the same request's noise explains the raw
// difference: primary and secondary differed at least as deeply (a value
// difference does not explain a type or shape change).
func (o fieldOutcome) explained() bool {
	return o.raw != kindNone && o.noise != kindNone && level(o.noise) >= level(o.raw)
}

// shapeChange: a structural raw difference on a field whose noise in the
// same request is only by value (a timestamp that became a number).
func (o fieldOutcome) shapeChange() bool {
	return structural(o.raw) && o.noise != kindNone && !structural(o.noise)
}

// comparison is the result of diffing one request's responses.
type comparison struct {
	df           differ
	seen         seenCounters
	raw, noise   []fieldDiff
	hasSecondary bool
	fields       []fieldOutcome // sorted by path
}

// compareResponses diffs primary against candidate and, when there is a
// secondary (s != nil), primary against secondary.
func compareResponses(p, s, c *response) *comparison {
	cmp := &comparison{}
	cmp.compare(p, s, c)
	return cmp
}

// compare is compareResponses into cmp, reusing its slices.
func (cmp *comparison) compare(p, s, c *response) {
	cmp.raw, cmp.hasSecondary = cmp.df.responses(cmp.raw[:0], p, c), s != nil
	cmp.noise = cmp.noise[:0]
	if s != nil {
		cmp.noise = cmp.df.responses(cmp.noise, p, s)
	}
	cmp.fields = joinOutcomes(cmp.fields[:0], cmp.raw, cmp.noise)
}

// joinOutcomes appends the outcomes of the paths in raw or noise to out.
func joinOutcomes(out []fieldOutcome, raw, noise []fieldDiff) []fieldOutcome {
	i, j := 0, 0
	for i < len(raw) || j < len(noise) {
		switch {
		case j == len(noise) || (i < len(raw) && raw[i].path < noise[j].path):
			out = append(out, fieldOutcome{path: raw[i].path, raw: raw[i].kind})
			i++
		case i == len(raw) || noise[j].path < raw[i].path:
			out = append(out, fieldOutcome{path: noise[j].path, noise: noise[j].kind})
			j++
		default:
			out = append(out, fieldOutcome{path: raw[i].path, raw: raw[i].kind, noise: noise[j].kind})
			i++
			j++
		}
	}
	return out
}

// outcome returns the joined outcome of a path (zero when it did not differ).
func (c *comparison) outcome(path string) fieldOutcome {
	for _, o := range c.fields {
		if o.path == path {
			return o
		}
	}
	return fieldOutcome{path: path}
}

// differences renders the comparison as FieldDifferences: raw ones marked
// definite (secondary agreed) or noise (same-request noise explains them),
// then the noise ones.
func (c *comparison) differences() []*shadowdiffv1.FieldDifference {
	n := len(c.raw) + len(c.noise)
	if n == 0 {
		return nil
	}
	all := make([]shadowdiffv1.FieldDifference, n) // one allocation for the lot
	out := make([]*shadowdiffv1.FieldDifference, 0, n)
	next := func() *shadowdiffv1.FieldDifference {
		fd := &all[len(out)]
		out = append(out, fd)
		return fd
	}
	k := 0
	for _, d := range c.raw {
		for c.fields[k].path != d.path {
			k++
		}
		o := c.fields[k]
		fd := next()
		fd.Path, fd.Kind, fd.Comparison = d.path, d.kind, shadowdiffv1.Comparison_COMPARISON_RAW
		fd.Left, fd.Right = d.left, d.right
		fd.Definite, fd.Noise = c.hasSecondary && o.noise == kindNone, o.explained()
	}
	for _, d := range c.noise {
		fd := next()
		fd.Path, fd.Kind, fd.Comparison = d.path, d.kind, shadowdiffv1.Comparison_COMPARISON_NOISE
		fd.Left, fd.Right, fd.Noise = d.left, d.right, true
	}
	return out
}
