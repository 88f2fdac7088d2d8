package digest

import (
	"slices"
	"strings"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// DefaultExcludedHeaders differ on every response for reasons that are
// never a regression, or restate what the digest already has.
var DefaultExcludedHeaders = []string{
	"date", "content-length", "transfer-encoding", "connection", "keep-alive",
	"x-envoy-upstream-service-time", "x-request-id", ":status",
}

// HeaderOptions configures header digests.
type HeaderOptions struct {
	Key Key
	// Include, when not empty, lists the only headers digested.
	Include []string
	// Exclude lists headers never digested (lower-case names).
	Exclude []string
	// Raw reports whether a header's raw value may be sent.
	Raw func(name string) bool
}

// DigestHeaders digests response headers, one entry per name (values of a
// repeated header joined by ","), sorted by name.
func DigestHeaders(hs [][2]string, opts *HeaderOptions) []wire.HeaderDigest {
	joined := map[string]string{}
	var names []string
	for _, h := range hs {
		name := strings.ToLower(h[0])
		if !wanted(name, opts) {
			continue
		}
		if v, ok := joined[name]; ok {
			joined[name] = v + "," + h[1]
			continue
		}
		joined[name] = h[1]
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]wire.HeaderDigest, 0, len(names))
	for _, name := range names {
		v := joined[name]
		hd := wire.HeaderDigest{Name: name, ValueHash: opts.Key.SumString(v), Shape: StringShape([]byte(v))}
		if opts.Raw != nil && opts.Raw(name) {
			r := v
			if len(r) > maxRaw {
				r = truncateUTF8(r, maxRaw)
			}
			hd.Raw = &r
		}
		out = append(out, hd)
	}
	return out
}

func wanted(name string, opts *HeaderOptions) bool {
	if len(opts.Include) > 0 {
		return slices.Contains(opts.Include, name)
	}
	return !slices.Contains(opts.Exclude, name)
}
