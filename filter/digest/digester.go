package digest

import (
	"strings"
	"unicode/utf8"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// BodyDigester digests response bodies, reusing its memory from call to call.
// The result, and everything it references (Fields, their Path and Raw strings), stays valid
// until the next call of Digest. Not safe for concurrent use (one per Wasm VM).
//
// Create one with NewBodyDigester. It asks opts.JSON.Raw once per path and
// remembers the answer, so the allowlist must not change under it: make a
// new digester when the configuration changes.
type BodyDigester struct {
	opts    BodyOptions
	json    *jsonDigester
	decoder decoder
	result  wire.BodyDigest
}

// NewBodyDigester returns a digester for bodies under opts.
func NewBodyDigester(opts BodyOptions) *BodyDigester {
	d := &BodyDigester{opts: opts}
	d.json = newJSONDigester(&d.opts.JSON, hashCacheSize, 0)
	return d
}

// Digest digests a captured body: its kind, a keyed hash of the decoded
// bytes and, for JSON, the field entries. It returns what DigestBody
// returns, in memory owned by d.
func (d *BodyDigester) Digest(b Body) *wire.BodyDigest {
	r := &d.result
	*r = wire.BodyDigest{
		ContentType:     MediaType(b.ContentType),
		ContentEncoding: strings.ToLower(strings.TrimSpace(b.ContentEncoding)),
		WireSize:        b.WireSize,
		Truncated:       b.Truncated,
	}
	data, err := d.decoder.decode(r, b.Data, d.opts.MaxDecodedBytes)
	defer d.decoder.release()
	if err != nil {
		r.Error = err.Error()
	}
	r.DecodedSize = uint64(len(data))
	if len(data) > 0 {
		r.Hash = d.opts.JSON.Key.Sum64(data)
	}
	switch {
	case len(data) == 0 && b.WireSize == 0:
		r.Kind = wire.BodyEmpty
	case err != nil:
		r.Kind = wire.BodyBinary
	case isJSONMedia(r.ContentType) || (r.ContentType == "" && looksLikeJSON(data)):
		if jerr := d.json.digest(data); jerr != nil {
			r.Kind = wire.BodyInvalidJSON
			r.Error = jerr.Error()
			if r.Truncated || r.DecodeBudgetExceeded {
				r.Error = "body truncated at the digest limit: " + r.Error
			}
			break
		}
		r.Kind = wire.BodyJSON
		r.Fields, r.FieldsTruncated = d.json.fields, d.json.truncated
	case strings.HasPrefix(r.ContentType, "text/") || utf8.Valid(data):
		r.Kind = wire.BodyText
	default:
		r.Kind = wire.BodyBinary
	}
	return r
}
