package digest

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// Body is a response body as the filter captured it.
type Body struct {
	ContentType     string // the Content-Type header
	ContentEncoding string // the Content-Encoding header
	// Data is the captured prefix of the body, at most max_body_bytes.
	Data []byte
	// WireSize counts every byte of the body, captured or not.
	WireSize uint64
	// Truncated: the body was longer than Data.
	Truncated bool
}

// BodyOptions configures body digests.
type BodyOptions struct {
	JSON JSONOptions
	// MaxDecodedBytes bounds what a compressed body may expand to.
	MaxDecodedBytes int
}

// DigestBody digests a captured body: its kind, a keyed hash of the decoded
// bytes and, for JSON, the field entries.
func DigestBody(b Body, opts *BodyOptions) *wire.BodyDigest {
	d := &wire.BodyDigest{
		ContentType:     MediaType(b.ContentType),
		ContentEncoding: strings.ToLower(strings.TrimSpace(b.ContentEncoding)),
		WireSize:        b.WireSize,
		Truncated:       b.Truncated,
	}
	data, err := decode(d, b.Data, opts.MaxDecodedBytes)
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
	case isJSONMedia(d.ContentType) || (d.ContentType == "" && looksLikeJSON(data)):
		jd, jerr := DigestJSON(data, &opts.JSON)
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

// decode undoes the content encoding within the budget. An error means the
// body could not be decoded; the caller falls back to the wire bytes.
func decode(d *wire.BodyDigest, data []byte, budget int) ([]byte, error) {
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
		r = flate.NewReader(bytes.NewReader(data))
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

// MediaType lower-cases a Content-Type and drops its parameters.
func MediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

func isJSONMedia(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/json"
}

func looksLikeJSON(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}
