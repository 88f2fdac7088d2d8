package wire

import "google.golang.org/protobuf/encoding/protowire"

// Field numbers are those of digest.proto and collector.proto.

// AppendResponseDigest appends d's encoding (without a length prefix).
func AppendResponseDigest(b []byte, d *ResponseDigest) []byte {
	b = appendString(b, 1, d.PairingKey)
	b = appendVarint(b, 2, uint64(d.Role))
	b = appendMessage(b, 3, func(b []byte) []byte { return appendWorkload(b, &d.Workload) })
	b = appendMessage(b, 4, func(b []byte) []byte { return appendEndpoint(b, &d.Endpoint) })
	b = appendMessage(b, 5, func(b []byte) []byte { return appendFingerprint(b, &d.Request) })
	b = appendVarint(b, 6, uint64(d.Status))
	for i := range d.Headers {
		b = appendMessage(b, 7, func(b []byte) []byte { return appendHeader(b, &d.Headers[i]) })
	}
	if d.Body != nil {
		b = appendMessage(b, 8, func(b []byte) []byte { return appendBody(b, d.Body) })
	}
	b = appendVarint(b, 9, d.UpstreamLatencyMicros)
	b = appendVarint(b, 10, uint64(d.StartUnixNanos))
	b = appendBool(b, 11, d.Shadow)
	b = appendVarint(b, 12, uint64(d.Skip))
	b = appendFixed64(b, 13, d.TrailersHash)
	return b
}

// AppendBatchHeader starts a DigestBatch: the sequence and dropped count;
// digests follow with AppendBatchDigest.
func AppendBatchHeader(b []byte, sequence, dropped uint64) []byte {
	b = appendVarint(b, 1, sequence)
	return appendVarint(b, 3, dropped)
}

// AppendBatchDigest appends one already-encoded ResponseDigest to a batch.
func AppendBatchDigest(b, encoded []byte) []byte {
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, encoded)
}

// BatchDigestSize is the bytes AppendBatchDigest adds for an encoded digest.
func BatchDigestSize(n int) int { return 1 + protowire.SizeBytes(n) }

func appendWorkload(b []byte, w *Workload) []byte {
	b = appendString(b, 1, w.Name)
	b = appendString(b, 2, w.Namespace)
	b = appendString(b, 3, w.Version)
	b = appendString(b, 4, w.Instance)
	return appendString(b, 5, w.PluginName)
}

func appendEndpoint(b []byte, e *EndpointRef) []byte {
	b = appendString(b, 1, e.Method)
	b = appendString(b, 2, e.RouteName)
	b = appendString(b, 3, e.Path)
	return appendString(b, 4, e.Authority)
}

func appendFingerprint(b []byte, f *RequestFingerprint) []byte {
	b = appendString(b, 1, f.Method)
	b = appendString(b, 2, f.Path)
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
		b = appendMessage(b, 10, func(b []byte) []byte { return appendField(b, &d.Fields[i]) })
	}
	return appendBool(b, 11, d.FieldsTruncated)
}

func appendField(b []byte, f *FieldEntry) []byte {
	b = appendString(b, 1, f.Path)
	b = appendVarint(b, 2, uint64(f.Type))
	b = appendVarint(b, 3, uint64(f.Shape))
	b = appendVarint(b, 4, uint64(f.LengthBucket))
	b = appendFixed64(b, 5, f.ValueHash)
	b = appendFixed64(b, 6, f.UnorderedHash)
	b = appendVarint(b, 7, uint64(f.Occurrences))
	b = appendVarint(b, 8, uint64(f.Elements))
	return appendOptionalString(b, 9, f.Raw)
}

// Proto3 omits fields at their zero value; optional fields are present when set.

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendOptionalString(b []byte, num protowire.Number, s *string) []byte {
	if s == nil {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, *s)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return appendVarint(b, num, 1)
}

func appendFixed64(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

// appendMessage appends a length-delimited sub-message written by fn. The
// length is not known up front: reserve one byte, then shift if it grew.
func appendMessage(b []byte, num protowire.Number, fn func([]byte) []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	start := len(b)
	b = append(b, 0)
	b = fn(b)
	n := len(b) - start - 1
	if n < 0x80 {
		b[start] = byte(n)
		return b
	}
	size := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, size-1)...)
	copy(b[start+size:], b[start+1:start+1+n])
	protowire.AppendVarint(b[start:start], uint64(n))
	return b
}
