package digest

import (
	"bytes"
	"strings"

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
// bytes and, for JSON, the field entries. The result is the caller's; a
// filter digesting many bodies should use a BodyDigester instead.
func DigestBody(b Body, opts *BodyOptions) *wire.BodyDigest {
	r := *NewBodyDigester(*opts).Digest(b)
	return &r
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
