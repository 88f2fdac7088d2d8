package digest

// The digest implementation as it was before BodyDigester (commit 26bfdae4176f),
// kept verbatim (identifiers prefixed with ref) as the reference the current
// code must match byte for byte, except that "deflate" now reads zlib first.
// This file: bodies and headers.

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// refDigestBody digests a captured body: its kind, a keyed hash of the decoded
// bytes and, for JSON, the field entries.
func refDigestBody(b Body, opts *BodyOptions) *wire.BodyDigest {
	d := &wire.BodyDigest{
		ContentType:     refMediaType(b.ContentType),
		ContentEncoding: strings.ToLower(strings.TrimSpace(b.ContentEncoding)),
		WireSize:        b.WireSize,
		Truncated:       b.Truncated,
	}
	data, err := refDecode(d, b.Data, opts.MaxDecodedBytes)
	if err != nil {
		d.Error = err.Error()
	}
	d.DecodedSize = uint64(len(data))
	if len(data) > 0 {
		d.Hash = opts.JSON.Key.Sum64(data)
	}
	switch {
	case len(data) == 0 && b.WireSize == 0:
		d.Kind = wire.BodyEmpty
	case err != nil:
		d.Kind = wire.BodyBinary
	case refIsJSONMedia(d.ContentType) || (d.ContentType == "" && refLooksLikeJSON(data)):
		jd, jerr := refDigestJSON(data, &opts.JSON)
		if jerr != nil {
			d.Kind = wire.BodyInvalidJSON
			d.Error = jerr.Error()
			if d.Truncated || d.DecodeBudgetExceeded {
				d.Error = "body truncated at the digest limit: " + d.Error
			}
			break
		}
		d.Kind = wire.BodyJSON
		d.Fields, d.FieldsTruncated = jd.Fields, jd.FieldsTruncated
	case strings.HasPrefix(d.ContentType, "text/") || utf8.Valid(data):
		d.Kind = wire.BodyText
	default:
		d.Kind = wire.BodyBinary
	}
	return d
}

// refDecode undoes the content encoding within the budget. An error means the
// body could not be decoded; the caller falls back to the wire bytes.
func refDecode(d *wire.BodyDigest, data []byte, budget int) ([]byte, error) {
	var r io.Reader
	switch d.ContentEncoding {
	case "", "identity":
		return data, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return data, fmt.Errorf("gzip: %w", err)
		}
		r = zr
	case "deflate":
		// zlib (RFC 9110), else raw DEFLATE: found by trying, not by the
		// header check decode uses.
		if zr, err := zlib.NewReader(bytes.NewReader(data)); err == nil {
			r = zr
		} else {
			r = flate.NewReader(bytes.NewReader(data))
		}
	default:
		return data, fmt.Errorf("content-encoding %q is not decoded", d.ContentEncoding)
	}
	if budget <= 0 {
		budget = 4 << 20
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(budget)+1))
	if len(out) > budget {
		d.DecodeBudgetExceeded = true
		return out[:budget], nil
	}
	if err != nil {
		if d.Truncated && (err == io.ErrUnexpectedEOF || err == io.EOF) {
			return out, nil // a captured prefix ends mid-stream
		}
		return data, fmt.Errorf("%s: %w", d.ContentEncoding, err)
	}
	return out, nil
}

// refMediaType lower-cases a Content-Type and drops its parameters.
func refMediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

func refIsJSONMedia(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/json"
}

func refLooksLikeJSON(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// refDigestHeaders digests response headers, one entry per name (values of a
// repeated header joined by ","), sorted by name.
func refDigestHeaders(hs [][2]string, opts *HeaderOptions) []wire.HeaderDigest {
	joined := map[string]string{}
	var names []string
	for _, h := range hs {
		name := strings.ToLower(h[0])
		if !refWanted(name, opts) {
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
		hd := wire.HeaderDigest{Name: name, ValueHash: opts.Key.SumString(v), Shape: refStringShape([]byte(v))}
		if opts.Raw != nil && opts.Raw(name) {
			r := v
			if len(r) > maxRaw {
				r = refTruncateUTF8(r, maxRaw)
			}
			hd.Raw = &r
		}
		out = append(out, hd)
	}
	return out
}

func refWanted(name string, opts *HeaderOptions) bool {
	if len(opts.Include) > 0 {
		return slices.Contains(opts.Include, name)
	}
	return !slices.Contains(opts.Exclude, name)
}
