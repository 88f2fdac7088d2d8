// Package abi binds the plugin to the Proxy-Wasm ABI v0.2.1 as Envoy
// implements it: host functions are imported from "env" with
// //go:wasmimport, callbacks are exported with //go:wasmexport. The bindings
// are only compiled for GOOS=wasip1; the encoders in this file are portable
// and tested natively.
package abi

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// encodeMap serializes header pairs in the ABI's map format: a u32 count,
// then (u32 key length, u32 value length) per pair, then each key and value
// followed by a NUL.
func encodeMap(pairs [][2]string) []byte {
	size := 4 + 8*len(pairs)
	for _, p := range pairs {
		size += len(p[0]) + len(p[1]) + 2
	}
	b := make([]byte, 4+8*len(pairs), size)
	binary.LittleEndian.PutUint32(b, uint32(len(pairs)))
	for i, p := range pairs {
		binary.LittleEndian.PutUint32(b[4+8*i:], uint32(len(p[0])))
		binary.LittleEndian.PutUint32(b[8+8*i:], uint32(len(p[1])))
	}
	for _, p := range pairs {
		b = append(b, p[0]...)
		b = append(b, 0)
		b = append(b, p[1]...)
		b = append(b, 0)
	}
	return b
}

var errBadMap = errors.New("malformed header map from host")

// decodeMap parses the ABI's map format into dst[:0]; an empty input is an
// empty map. The strings alias b: they are valid while b is.
func decodeMap(dst [][2]string, b []byte) ([][2]string, error) {
	dst = dst[:0]
	if len(b) <= 1 {
		return dst, nil
	}
	if len(b) < 4 {
		return dst, errBadMap
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > (len(b)-4)/8 {
		return dst, errBadMap
	}
	data := 4 + 8*n
	for i := range n {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		if kl+vl+2 > len(b)-data || kl < 0 || vl < 0 {
			return dst[:0], errBadMap
		}
		k := view(b[data : data+kl])
		data += kl + 1
		dst = append(dst, [2]string{k, view(b[data : data+vl])})
		data += vl + 1
	}
	return dst, nil
}

// view is b as a string without a copy; b must not change while it is used.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// appendPropertyPath joins property segments with NULs, as Envoy expects.
func appendPropertyPath(b []byte, segments []string) []byte {
	for i, s := range segments {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, s...)
	}
	return b
}

// grpcService encodes envoy.config.core.v3.GrpcService{envoy_grpc:
// {cluster_name: cluster, authority: authority}} (no authority when
// empty: Envoy then sends the cluster name as :authority). Envoy also
// takes a bare cluster name, but only when the bytes fail to parse as a
// GrpcService; the encoded form is never misread.
func grpcService(cluster, authority string) []byte {
	var inner []byte
	inner = protowire.AppendTag(inner, 1, protowire.BytesType)
	inner = protowire.AppendString(inner, cluster)
	if authority != "" {
		inner = protowire.AppendTag(inner, 2, protowire.BytesType)
		inner = protowire.AppendString(inner, authority)
	}
	var out []byte
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	return protowire.AppendBytes(out, inner)
}
