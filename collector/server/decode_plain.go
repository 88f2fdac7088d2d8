package server

import (
	"encoding/binary"

	"google.golang.org/protobuf/encoding/protowire"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Wire types of the tags the filter writes.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
)

// digestParts is a digest and the sub-messages a digest usually has,
// allocated together: the engine keeps or drops them together. So are the
// pointers to its headers when there are few (the filter sends a handful).
type digestParts struct {
	headers  [8]*shadowdiffv1.HeaderDigest
	digest   shadowdiffv1.ResponseDigest
	workload shadowdiffv1.Workload
	endpoint shadowdiffv1.EndpointRef
	request  shadowdiffv1.RequestFingerprint
	body     shadowdiffv1.BodyDigest
}

// plainFields calls field for each field of a message in the plain form
// the filter writes: one-byte tags (field numbers 1 to 15) of varints,
// fixed64s and length-delimited fields, each field once but those whose
// bit (1<<number) is set in repeated. v is a varint's or fixed64's value,
// b a length-delimited payload (a slice of data). It returns false as soon
// as field does, or on anything else (which the generated decoder may
// accept, or refuse). A field sent twice is not plain: the generated code
// merges it, and a value it overwrites is not kept alive with the digest's
// strings (decode_strings.go).
func plainFields(data []byte, repeated uint16, field func(tag byte, v uint64, b []byte) bool) bool {
	_, ok := plainFieldsCounting(data, repeated, 0, field)
	return ok
}

// plainFieldsCounting is plainFields that counts the length-delimited
// fields with tag counted (a repeated one) instead of passing them to
// field: a body's tens of field entries, which are read later, were each a
// call of field (~3% of ingest).
func plainFieldsCounting(data []byte, repeated uint16, counted byte, field func(tag byte, v uint64, b []byte) bool) (n int, ok bool) {
	var seen uint16
	for i := 0; i < len(data); {
		tag := data[i]
		i++
		if tag == counted && counted != 0 {
			if i < len(data) && data[i] < 0x80 && int(data[i]) < len(data)-i { // one-byte length
				i += 1 + int(data[i])
				n++
				continue
			}
			l, k := protowire.ConsumeVarint(data[i:])
			if k < 0 || l > uint64(len(data)-i-k) {
				return n, false
			}
			i += k + int(l)
			n++
			continue
		}
		if tag < 1<<3 || tag >= 0x80 {
			return n, false
		}
		bit := uint16(1) << (tag >> 3)
		if seen&bit&^repeated != 0 {
			return n, false
		}
		seen |= bit
		var (
			v uint64
			b []byte
		)
		switch tag & 7 {
		case wireVarint:
			if i < len(data) && data[i] < 0x80 { // one byte: see protoscan.Uvarint
				v, i = uint64(data[i]), i+1
				break
			}
			x, k := protowire.ConsumeVarint(data[i:])
			if k < 0 {
				return n, false
			}
			v, i = x, i+k
		case wireFixed64:
			if len(data)-i < 8 {
				return n, false
			}
			v, i = binary.LittleEndian.Uint64(data[i:]), i+8
		case wireBytes:
			l, k := uint64(0), 1
			if i < len(data) && data[i] < 0x80 { // one byte: see protoscan.Uvarint
				l = uint64(data[i])
			} else {
				l, k = protowire.ConsumeVarint(data[i:])
			}
			if k < 0 || l > uint64(len(data)-i-k) {
				return n, false
			}
			i += k
			end := i + int(l)
			b, i = data[i:end:end], end
		default:
			return n, false
		}
		if !field(tag, v, b) {
			return n, false
		}
	}
	return n, true
}

// plainDigest decodes a digest in the plain form into p.digest, its
// interned strings set and the others pending. ok is false (p, which may
// hold some of the strings, and the pending ones are then to be dropped)
// when data is in any other form, including any of its
// sub-messages but the body's field entries, which are decoded one by one.
// In that form each field but the headers comes once (see plainFields).
func (d *decoder) plainDigest(data []byte, p *digestParts) (ok bool, err error) {
	m := &p.digest
	d.headers = d.headers[:0]
	var body []byte
	fields := 0
	ok = plainFields(data, 1<<7, func(tag byte, v uint64, b []byte) bool {
		switch tag {
		case 1<<3 | wireBytes:
			d.keep(&m.PairingKey, b)
		case 2<<3 | wireVarint:
			m.Role = shadowdiffv1.Role(int32(v))
		case 3<<3 | wireBytes:
			if m.Workload == nil {
				m.Workload = &p.workload
			}
			return d.plainWorkload(b, m.Workload)
		case 4<<3 | wireBytes:
			if m.Endpoint == nil {
				m.Endpoint = &p.endpoint
			}
			return d.plainEndpoint(b, m.Endpoint)
		case 5<<3 | wireBytes:
			if m.Request == nil {
				m.Request = &p.request
			}
			return d.plainRequest(b, m.Request)
		case 6<<3 | wireVarint:
			m.Status = uint32(v)
		case 7<<3 | wireBytes:
			d.headers = append(d.headers, b)
		case 8<<3 | wireBytes:
			m.Body, body = &p.body, b
			n, ok := d.plainBody(b, m.Body)
			fields = n
			return ok
		case 9<<3 | wireVarint:
			m.UpstreamLatencyMicros = v
		case 10<<3 | wireVarint:
			m.StartUnixNanos = int64(v)
		case 11<<3 | wireVarint:
			m.Shadow = v != 0
		case 12<<3 | wireVarint:
			m.Skip = shadowdiffv1.SkipReason(int32(v))
		case 13<<3 | wireFixed64:
			m.TrailersHash = v
		default:
			return false
		}
		return true
	})
	if !ok {
		return false, nil
	}
	if n := len(d.headers); n > 0 {
		hs := make([]shadowdiffv1.HeaderDigest, n)
		if n <= len(p.headers) {
			m.Headers = p.headers[:n:n] // full: an append copies
		} else {
			m.Headers = make([]*shadowdiffv1.HeaderDigest, n)
		}
		for i, b := range d.headers {
			m.Headers[i] = &hs[i]
			if !d.plainHeader(b, &hs[i], slotHeaders+i) {
				return false, nil
			}
		}
	}
	if fields == 0 || d.skipFields {
		return true, nil
	}
	return true, d.fieldEntries(body, fields, m.Body)
}

func (d *decoder) plainWorkload(data []byte, w *shadowdiffv1.Workload) bool {
	return plainFields(data, 0, func(tag byte, _ uint64, b []byte) bool {
		switch tag {
		case 1<<3 | wireBytes:
			d.keepShared(slotWorkloadName, &w.Name, b)
		case 2<<3 | wireBytes:
			d.keepShared(slotWorkloadNamespace, &w.Namespace, b)
		case 3<<3 | wireBytes:
			d.keepShared(slotWorkloadVersion, &w.Version, b)
		case 4<<3 | wireBytes:
			d.keepShared(slotWorkloadInstance, &w.Instance, b)
		case 5<<3 | wireBytes:
			d.keepShared(slotPluginName, &w.PluginName, b)
		default:
			return false
		}
		return true
	})
}

// plainEndpoint shares all but the path, which may hold identifiers.
func (d *decoder) plainEndpoint(data []byte, e *shadowdiffv1.EndpointRef) bool {
	return plainFields(data, 0, func(tag byte, _ uint64, b []byte) bool {
		switch tag {
		case 1<<3 | wireBytes:
			d.keepShared(slotEndpointMethod, &e.Method, b)
		case 2<<3 | wireBytes:
			d.keepShared(slotRouteName, &e.RouteName, b)
		case 3<<3 | wireBytes:
			d.keep(&e.Path, b)
		case 4<<3 | wireBytes:
			d.keepShared(slotAuthority, &e.Authority, b)
		default:
			return false
		}
		return true
	})
}

func (d *decoder) plainRequest(data []byte, r *shadowdiffv1.RequestFingerprint) bool {
	return plainFields(data, 0, func(tag byte, v uint64, b []byte) bool {
		switch tag {
		case 1<<3 | wireBytes:
			d.keepShared(slotRequestMethod, &r.Method, b)
		case 2<<3 | wireBytes:
			d.keep(&r.Path, b)
		case 3<<3 | wireFixed64:
			r.QueryHash = v
		case 4<<3 | wireFixed64:
			r.BodyHash = v
		case 5<<3 | wireVarint:
			r.BodySize = v
		case 6<<3 | wireVarint:
			r.BodyTruncated = v != 0
		default:
			return false
		}
		return true
	})
}

func (d *decoder) plainHeader(data []byte, h *shadowdiffv1.HeaderDigest, slot int) bool {
	if d.inOrderHeader(data, h, slot) {
		return true
	}
	return plainFields(data, 0, func(tag byte, v uint64, b []byte) bool {
		switch tag {
		case 1<<3 | wireBytes:
			d.keepShared(slot, &h.Name, b)
		case 2<<3 | wireFixed64:
			h.ValueHash = v
		case 3<<3 | wireVarint:
			h.Shape = shadowdiffv1.ValueShape(int32(v))
		case 4<<3 | wireBytes:
			d.keepRaw(&h.RawValue, b)
		default:
			return false
		}
		return true
	})
}

// inOrderHeader is plainHeader for a header whose fields come in the order
// of their numbers with one-byte lengths and shape, as the filter writes
// them: one test per field instead of a call each (a digest has a
// handful of headers). It is false, having changed nothing, for anything
// else.
func (d *decoder) inOrderHeader(data []byte, h *shadowdiffv1.HeaderDigest, slot int) bool {
	var name, raw []byte
	var hash uint64
	var shape byte
	i := 0
	if len(data) >= 2 && data[0] == 1<<3|wireBytes {
		n := int(data[1])
		if n >= 0x80 || n > len(data)-2 {
			return false
		}
		name, i = data[2:2+n:2+n], 2+n
	}
	if len(data)-i >= 9 && data[i] == 2<<3|wireFixed64 {
		hash, i = binary.LittleEndian.Uint64(data[i+1:]), i+9
	}
	if len(data)-i >= 2 && data[i] == 3<<3|wireVarint {
		if data[i+1] >= 0x80 {
			return false
		}
		shape, i = data[i+1], i+2
	}
	if len(data)-i >= 2 && data[i] == 4<<3|wireBytes {
		n := int(data[i+1])
		if n >= 0x80 || n > len(data)-i-2 {
			return false
		}
		raw, i = data[i+2:i+2+n:i+2+n], i+2+n
	}
	if i != len(data) {
		return false
	}
	if name != nil {
		d.keepShared(slot, &h.Name, name)
	}
	h.ValueHash, h.Shape = hash, shadowdiffv1.ValueShape(shape)
	if raw != nil {
		d.keepRaw(&h.RawValue, raw)
	}
	return true
}

// plainBody decodes all of a body but its field entries, which it counts.
func (d *decoder) plainBody(data []byte, m *shadowdiffv1.BodyDigest) (fields int, ok bool) {
	return plainFieldsCounting(data, 0, 10<<3|wireBytes, func(tag byte, v uint64, b []byte) bool {
		switch tag {
		case 1<<3 | wireBytes:
			d.keepShared(slotContentType, &m.ContentType, b)
		case 2<<3 | wireBytes:
			d.keepShared(slotContentEncoding, &m.ContentEncoding, b)
		case 3<<3 | wireVarint:
			m.WireSize = v
		case 4<<3 | wireVarint:
			m.DecodedSize = v
		case 5<<3 | wireFixed64:
			m.Hash = v
		case 6<<3 | wireVarint:
			m.Kind = shadowdiffv1.BodyKind(int32(v))
		case 7<<3 | wireVarint:
			m.Truncated = v != 0
		case 8<<3 | wireVarint:
			m.DecodeBudgetExceeded = v != 0
		case 9<<3 | wireBytes:
			d.keep(&m.Error, b)
		case 11<<3 | wireVarint:
			m.FieldsTruncated = v != 0
		default:
			return false
		}
		return true
	})
}
