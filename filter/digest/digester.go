package digest

import "github.com/shadowdiff/shadowdiff/filter/wire"

// BodyDigester digests response bodies, reusing its memory from call to call.
// The result, and everything it references (Fields, their Path and Raw strings), stays valid
// until the next call of Digest. Not safe for concurrent use (one per Wasm VM).
type BodyDigester struct {
	opts BodyOptions
}

// NewBodyDigester returns a digester for bodies under opts.
func NewBodyDigester(opts BodyOptions) *BodyDigester {
	return &BodyDigester{opts: opts}
}

// Digest digests b; see DigestBody.
func (d *BodyDigester) Digest(b Body) *wire.BodyDigest {
	return DigestBody(b, &d.opts)
}
