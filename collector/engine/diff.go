package engine

import (
	"cmp"
	"slices"
	"strconv"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Aliases for the diff kinds, to keep the comparisons readable.
const (
	kindNone          = shadowdiffv1.DiffKind_DIFF_KIND_UNSPECIFIED
	kindValue         = shadowdiffv1.DiffKind_DIFF_KIND_VALUE
	kindType          = shadowdiffv1.DiffKind_DIFF_KIND_TYPE
	kindMissing       = shadowdiffv1.DiffKind_DIFF_KIND_MISSING
	kindExtra         = shadowdiffv1.DiffKind_DIFF_KIND_EXTRA
	kindArrayLength   = shadowdiffv1.DiffKind_DIFF_KIND_ARRAY_LENGTH
	kindOrderOnly     = shadowdiffv1.DiffKind_DIFF_KIND_ORDER_ONLY
	kindShape         = shadowdiffv1.DiffKind_DIFF_KIND_SHAPE
	kindStatus        = shadowdiffv1.DiffKind_DIFF_KIND_STATUS
	kindHeader        = shadowdiffv1.DiffKind_DIFF_KIND_HEADER
	kindNotComparable = shadowdiffv1.DiffKind_DIFF_KIND_BODY_NOT_COMPARABLE
)

// Query path namespaces (see query.proto).
const (
	pathStatus   = "status"
	pathBody     = "body"
	pathTrailers = "trailers"
	headerPrefix = "headers."
)

// fieldDiff is one difference between two responses at one query path.
type fieldDiff struct {
	path        string
	kind        shadowdiffv1.DiffKind
	left, right *shadowdiffv1.FieldEntry
}

// structural reports whether a kind changes the structure of a response
// (type, shape, presence, status) rather than a value. A field that is
// noisy by value is still compared structurally.
func structural(k shadowdiffv1.DiffKind) bool {
	switch k {
	case kindType, kindShape, kindMissing, kindExtra, kindStatus:
		return true
	}
	return false
}

// level orders kinds for "does noise explain this": 0 none, 1 value, 2 structural.
func level(k shadowdiffv1.DiffKind) int {
	switch {
	case k == kindNone:
		return 0
	case structural(k):
		return 2
	}
	return 1
}

// responses compares two responses and returns their differences
// sorted by path, at most one per path, appended to out. It does not
// modify the digests; returned entries point into them (or are
// synthesised for status, headers, whole bodies and slim digests).
func (df *differ) responses(out []fieldDiff, l, r *response) []fieldDiff {
	start := len(out)
	// In the order of their paths ("body...", "headers...", "status",
	// "trailers"), so that they need no sorting (~1.5% of ingest).
	out = df.bodies(out, l, r)
	out = df.headers(out, l.d.GetHeaders(), r.d.GetHeaders())
	if l.d.GetStatus() != r.d.GetStatus() {
		out = append(out, fieldDiff{pathStatus, kindStatus, statusEntry(l.d.GetStatus()), statusEntry(r.d.GetStatus())})
	}
	if l.d.GetTrailersHash() != r.d.GetTrailersHash() {
		out = append(out, fieldDiff{pathTrailers, kindValue,
			&shadowdiffv1.FieldEntry{Path: pathTrailers, ValueHash: l.d.GetTrailersHash()},
			&shadowdiffv1.FieldEntry{Path: pathTrailers, ValueHash: r.d.GetTrailersHash()}})
	}
	if diffs := out[start:]; !slices.IsSortedFunc(diffs, compareDiffPaths) {
		slices.SortFunc(diffs, compareDiffPaths)
	}
	return out
}

func compareDiffPaths(a, b fieldDiff) int { return cmp.Compare(a.path, b.path) }

func statusEntry(s uint32) *shadowdiffv1.FieldEntry {
	v := strconv.FormatUint(uint64(s), 10)
	return &shadowdiffv1.FieldEntry{Path: pathStatus, Type: shadowdiffv1.JsonType_JSON_TYPE_NUMBER,
		Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_INTEGER, ValueHash: uint64(s), Occurrences: 1, RawValue: &v}
}

func (df *differ) headers(out []fieldDiff, l, r []*shadowdiffv1.HeaderDigest) []fieldDiff {
	l, r = sortedHeaders(l), sortedHeaders(r)
	i, j := 0, 0
	for i < len(l) || j < len(r) {
		switch {
		case j == len(r) || (i < len(l) && l[i].Name < r[j].Name):
			p := df.paths.headerName(l[i].Name)
			out = append(out, fieldDiff{p, kindMissing, df.headerEntry(l[i], p), nil})
			i++
		case i == len(l) || r[j].Name < l[i].Name:
			p := df.paths.headerName(r[j].Name)
			out = append(out, fieldDiff{p, kindExtra, nil, df.headerEntry(r[j], p)})
			j++
		default:
			if l[i].ValueHash != r[j].ValueHash {
				k := kindHeader
				if l[i].Shape != r[j].Shape {
					k = kindShape
				}
				p := df.paths.headerName(l[i].Name)
				out = append(out, fieldDiff{p, k, df.headerEntry(l[i], p), df.headerEntry(r[j], p)})
			}
			i++
			j++
		}
	}
	return out
}

// sortedHeaders returns hs itself when it is sorted by name (as ingest
// leaves digests: see sortDigest), else a sorted copy.
func sortedHeaders(hs []*shadowdiffv1.HeaderDigest) []*shadowdiffv1.HeaderDigest {
	for i := 1; i < len(hs); i++ {
		if hs[i].GetName() < hs[i-1].GetName() {
			hs = slices.Clone(hs)
			slices.SortStableFunc(hs, func(a, b *shadowdiffv1.HeaderDigest) int { return cmp.Compare(a.GetName(), b.GetName()) })
			return hs
		}
	}
	return hs
}

func bodyEntry(b *shadowdiffv1.BodyDigest) *shadowdiffv1.FieldEntry {
	return &shadowdiffv1.FieldEntry{Path: pathBody, ValueHash: b.GetHash(), UnorderedHash: b.GetHash(),
		LengthBucket: lengthBucket(b.GetDecodedSize()), Occurrences: 1}
}

func lengthBucket(n uint64) uint32 {
	var b uint32
	for n > 0 {
		b++
		n >>= 1
	}
	return b
}

func bodyKind(b *shadowdiffv1.BodyDigest) shadowdiffv1.BodyKind {
	if b == nil || b.Kind == shadowdiffv1.BodyKind_BODY_KIND_UNSPECIFIED {
		return shadowdiffv1.BodyKind_BODY_KIND_EMPTY
	}
	return b.Kind
}

// partial reports whether a body was digested only in part or did not parse.
func partial(b *shadowdiffv1.BodyDigest) bool {
	return b.GetTruncated() || b.GetDecodeBudgetExceeded() || bodyKind(b) == shadowdiffv1.BodyKind_BODY_KIND_INVALID_JSON
}

func (df *differ) bodies(out []fieldDiff, lv, rv *response) []fieldDiff {
	l, r := lv.d.GetBody(), rv.d.GetBody()
	lk, rk := bodyKind(l), bodyKind(r)
	const empty, jsonKind = shadowdiffv1.BodyKind_BODY_KIND_EMPTY, shadowdiffv1.BodyKind_BODY_KIND_JSON
	switch {
	case partial(l) || partial(r) || (lk == rk && lk != jsonKind):
		if l.GetHash() != r.GetHash() || lk != rk {
			out = append(out, fieldDiff{pathBody, kindNotComparable, bodyEntry(l), bodyEntry(r)})
		}
		return out
	case lk != rk && rk == empty:
		return append(out, fieldDiff{pathBody, kindMissing, bodyEntry(l), nil})
	case lk != rk && lk == empty:
		return append(out, fieldDiff{pathBody, kindExtra, nil, bodyEntry(r)})
	case lk != rk:
		return append(out, fieldDiff{pathBody, kindType, bodyEntry(l), bodyEntry(r)})
	}
	return df.fields(out, lv, rv)
}

// queryPath turns a body field path into its query path: "" -> "body",
// "a.b" -> "body.a.b", "[].id" -> "body[].id".
func queryPath(p string) string {
	switch {
	case p == "":
		return pathBody
	case p[0] == '[':
		return pathBody + p
	}
	return pathBody + "." + p
}

// appendQueryPath appends queryPath(p) to b.
func appendQueryPath(b []byte, p string) []byte {
	b = append(b, pathBody...)
	if p != "" && p[0] != '[' {
		b = append(b, '.')
	}
	return append(b, p...)
}

func (df *differ) fields(out []fieldDiff, lv, rv *response) []fieldDiff {
	l, r := lv.fields, rv.fields
	lTrunc, rTrunc := lv.d.GetBody().GetFieldsTruncated(), rv.d.GetBody().GetFieldsTruncated()
	i, j := 0, 0
	for i < len(l) || j < len(r) {
		switch {
		// Equal paths first: they are the common case, and interned
		// paths compare equal by pointer without reading their bytes.
		case i < len(l) && j < len(r) && l[i].path == r[j].path:
			if k := compareFlat(&l[i], &r[j]); k != kindNone {
				out = append(out, fieldDiff{df.paths.bodyField(l[i].path), k, df.fieldEntry(lv, i), df.fieldEntry(rv, j)})
			}
			i++
			j++
		case j == len(r) || (i < len(l) && l[i].path < r[j].path):
			if !rTrunc {
				out = append(out, fieldDiff{df.paths.bodyField(l[i].path), kindMissing, df.fieldEntry(lv, i), nil})
			}
			i++
		default:
			if !lTrunc {
				out = append(out, fieldDiff{df.paths.bodyField(r[j].path), kindExtra, nil, df.fieldEntry(rv, j)})
			}
			j++
		}
	}
	return out
}

// compareFlat compares one path present on both sides. Objects only
// differ by type (their children carry value differences); arrays by
// length and order; scalars by order, shape and value.
func compareFlat(l, r *flatEntry) shadowdiffv1.DiffKind {
	if l.typ != r.typ {
		return kindType
	}
	switch l.typ {
	case shadowdiffv1.JsonType_JSON_TYPE_OBJECT:
		return kindNone
	case shadowdiffv1.JsonType_JSON_TYPE_ARRAY:
		switch {
		case l.elements != r.elements || l.lengthBucket != r.lengthBucket:
			return kindArrayLength
		case l.valueHash != r.valueHash && l.unorderedHash == r.unorderedHash:
			return kindOrderOnly
		}
		return kindNone
	}
	switch {
	case l.valueHash == r.valueHash:
		return kindNone
	case l.unorderedHash == r.unorderedHash && l.unorderedHash != 0 && l.occurrences > 1:
		return kindOrderOnly
	case l.shape != r.shape:
		return kindShape
	}
	return kindValue
}
