package wire

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers are those of digest.proto and collector.proto.
//
// The encoder writes protobuf by hand, every field number below 16 (one-byte
// tags), with helpers small enough to inline: inside Go→wasm each call that
// is not inlined costs as much as encoding several fields.

// Wire types of the protobuf encoding.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
)

// AppendResponseDigest appends d's encoding (without a length prefix).
func AppendResponseDigest(b []byte, d *ResponseDigest) []byte {
	b = appendIdentity(b, 1, d.PairingKey)
	b = appendVarint(b, 2, uint64(d.Role))
	b, m := beginMessage(b, 3)
	b = appendWorkload(b, &d.Workload)
	b = endMessage(b, m)
	b, m = beginMessage(b, 4)
	b = appendEndpoint(b, &d.Endpoint)
	b = endMessage(b, m)
	b, m = beginMessage(b, 5)
	b = appendFingerprint(b, &d.Request)
	b = endMessage(b, m)
	b = appendVarint(b, 6, uint64(d.Status))
	for i := range d.Headers {
		b, m = beginMessage(b, 7)
		b = appendHeader(b, &d.Headers[i])
		b = endMessage(b, m)
	}
	if d.Body != nil {
		b, m = beginMessage(b, 8)
		b = appendBody(b, d.Body)
		b = endMessage(b, m)
	}
	b = appendVarint(b, 9, d.UpstreamLatencyMicros)
	b = appendVarint(b, 10, uint64(d.StartUnixNanos))
	b = appendBool(b, 11, d.Shadow)
	b = appendVarint(b, 12, uint64(d.Skip))
	return appendFixed64(b, 13, d.TrailersHash)
}

// AppendBatchHeader starts a DigestBatch: the sequence and dropped count;
// digests follow with AppendBatchDigest.
func AppendBatchHeader(b []byte, sequence, dropped uint64) []byte {
	b = appendVarint(b, 1, sequence)
	return appendVarint(b, 3, dropped)
}

// AppendBatchDigest appends one already-encoded ResponseDigest to a batch.
func AppendBatchDigest(b, encoded []byte) []byte {
	b = append(b, tag(2, wireBytes))
	b = appendRawVarint(b, uint64(len(encoded)))
	return append(b, encoded...)
}

// BatchDigestSize is the bytes AppendBatchDigest adds for an encoded digest.
func BatchDigestSize(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

// appendWorkload writes w, whose strings are valid UTF-8 (see Workload):
// the same for every digest of a plugin, they are checked once.
func appendWorkload(b []byte, w *Workload) []byte {
	b = appendValidString(b, 1, w.Name)
	b = appendValidString(b, 2, w.Namespace)
	b = appendValidString(b, 3, w.Version)
	b = appendValidString(b, 4, w.Instance)
	return appendValidString(b, 5, w.PluginName)
}

func appendEndpoint(b []byte, e *EndpointRef) []byte {
	b = appendIdentity(b, 1, e.Method)
	b = appendIdentity(b, 2, e.RouteName)
	b = appendIdentity(b, 3, e.Path)
	return appendIdentity(b, 4, e.Authority)
}

func appendFingerprint(b []byte, f *RequestFingerprint) []byte {
	b = appendIdentity(b, 1, f.Method)
	b = appendIdentity(b, 2, f.Path)
	b = appendFixed64(b, 3, f.QueryHash)
	b = appendFixed64(b, 4, f.BodyHash)
	b = appendVarint(b, 5, f.BodySize)
	return appendBool(b, 6, f.BodyTruncated)
}

func appendHeader(b []byte, h *HeaderDigest) []byte {
	b = appendString(b, 1, h.Name)
	b = appendFixed64(b, 2, h.ValueHash)
	b = appendVarint(b, 3, uint64(h.Shape))
	return appendOptionalString(b, 4, h.Raw)
}

func appendBody(b []byte, d *BodyDigest) []byte {
	b = appendString(b, 1, d.ContentType)
	b = appendString(b, 2, d.ContentEncoding)
	b = appendVarint(b, 3, d.WireSize)
	b = appendVarint(b, 4, d.DecodedSize)
	b = appendFixed64(b, 5, d.Hash)
	b = appendVarint(b, 6, uint64(d.Kind))
	b = appendBool(b, 7, d.Truncated)
	b = appendBool(b, 8, d.DecodeBudgetExceeded)
	b = appendString(b, 9, d.Error)
	for i := range d.Fields {
		b = appendField(b, &d.Fields[i])
	}
	return appendBool(b, 11, d.FieldsTruncated)
}

// appendField appends one FieldEntry as field 10 of a BodyDigest.
func appendField(b []byte, f *FieldEntry) []byte {
	b, m := beginMessage(b, 10)
	b = appendValidString(b, 1, f.Path) // see FieldEntry
	b = appendVarint(b, 2, uint64(f.Type))
	b = appendVarint(b, 3, uint64(f.Shape))
	b = appendVarint(b, 4, uint64(f.LengthBucket))
	b = appendFixed64(b, 5, f.ValueHash)
	b = appendFixed64(b, 6, f.UnorderedHash)
	b = appendVarint(b, 7, uint64(f.Occurrences))
	b = appendVarint(b, 8, uint64(f.Elements))
	b = appendOptionalString(b, 9, f.Raw)
	return endMessage(b, m)
}

// Proto3 omits fields at their zero value; optional fields are present when set.

func tag(num, typ byte) byte { return num<<3 | typ }

func appendRawVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendString(b []byte, num byte, s string) []byte {
	if s == "" {
		return b
	}
	return appendStringValue(b, num, s)
}

func appendOptionalString(b []byte, num byte, s *string) []byte {
	if s == nil {
		return b
	}
	return appendStringValue(b, num, *s)
}

// appendStringValue writes s with each run of bytes that are not valid
// UTF-8 replaced by U+FFFD (strings.ToValidUTF8): protobuf strings must be
// UTF-8 (the collector refuses a digest with one that is not), and header
// and raw values come from traffic as bytes. Strings that identify a
// request go through appendIdentity instead.
func appendStringValue(b []byte, num byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return appendRawString(b, num, s)
}

// appendIdentity writes a string that identifies a request (the pairing
// key, a method, path, route or authority) as UTF-8 without losing what
// tells two apart, as U+FFFD would (it sent two request ids that differ
// only in such bytes as one key): see identity.
func appendIdentity(b []byte, num byte, s string) []byte {
	if s == "" {
		return b
	}
	return appendRawString(b, num, identity(s))
}

// identity returns s when it is valid UTF-8 without control characters
// (every request id, path and authority in practice: they are then looked
// up as they were sent), else s escaped with AppendEscaped, backslash
// being the metacharacter: the collector refuses the others (a tab is
// allowed in a header value, so in an x-request-id). Escaped strings stay
// distinct from each other; one could only meet a string that spells out
// its escapes.
func identity(s string) string {
	if utf8.ValidString(s) && !hasControl(s) {
		return s
	}
	return string(AppendEscaped(make([]byte, 0, len(s)+8), s, `\`))
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// AppendEscaped appends s as valid UTF-8 without losing what tells two
// strings apart: a byte in meta (which must hold the backslash) is
// written after a backslash, a byte that is not part of valid UTF-8 or an
// ASCII control character as \xNN, anything else as it is. Paths (the
// digester) and strings that identify a request (identity) are written
// so. Control characters are escaped because the collector refuses them:
// it joins paths with them internally.
func AppendEscaped[T string | []byte](b []byte, s T, meta string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			// At most one rune's bytes: the conversion of a []byte so
			// short is made on the stack.
			r, n := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			if r == utf8.RuneError && n == 1 {
				b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		}
		if c < ' ' || c == 0x7f {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			i++
			continue
		}
		if strings.IndexByte(meta, c) >= 0 {
			b = append(b, '\\')
		}
		b = append(b, c)
		i++
	}
	return b
}

// appendValidString writes s, known to be valid UTF-8, unchecked.
func appendValidString(b []byte, num byte, s string) []byte {
	if s == "" {
		return b
	}
	return appendRawString(b, num, s)
}

func appendRawString(b []byte, num byte, s string) []byte {
	b = append(b, tag(num, wireBytes))
	b = appendRawVarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendVarint(b []byte, num byte, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendRawVarint(append(b, tag(num, wireVarint)), v)
}

func appendBool(b []byte, num byte, v bool) []byte {
	if !v {
		return b
	}
	return append(b, tag(num, wireVarint), 1)
}

func appendFixed64(b []byte, num byte, v uint64) []byte {
	if v == 0 {
		return b
	}
	return binary.LittleEndian.AppendUint64(append(b, tag(num, wireFixed64)), v)
}

// beginMessage starts a length-delimited sub-message. Its length is not
// known yet: one byte is reserved, and endMessage shifts the contents when
// the length needs more.
func beginMessage(b []byte, num byte) ([]byte, int) {
	b = append(b, tag(num, wireBytes), 0)
	return b, len(b) - 1
}

func endMessage(b []byte, start int) []byte {
	n := len(b) - start - 1
	if n < 0x80 {
		b[start] = byte(n)
		return b
	}
	return widenLength(b, start, n)
}

// widenLength rewrites the one-byte length at start as the varint n,
// shifting the n bytes of the message behind it.
func widenLength(b []byte, start, n int) []byte {
	extra := protowire.SizeVarint(uint64(n)) - 1
	for range extra {
		b = append(b, 0)
	}
	copy(b[start+1+extra:], b[start+1:start+1+n])
	appendRawVarint(b[start:start], uint64(n))
	return b
}
