package main

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unsafe"
)

// allocs keeps host-bound allocations alive until the guest takes them.
var allocs = map[uint32][]byte{}

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) uint32 {
	b := make([]byte, max(size, 1))
	p := uint32(uintptr(unsafe.Pointer(&b[0])))
	allocs[p] = b
	return p
}

// take returns the bytes the host wrote at ptr.
func take(ptr, size uint32) []byte {
	if ptr == 0 {
		return nil
	}
	b, ok := allocs[ptr]
	if !ok {
		panic(fmt.Sprintf("host returned pointer %#x it did not allocate", ptr))
	}
	delete(allocs, ptr)
	return b[:size]
}

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func str(s string) (unsafe.Pointer, uint32) {
	b := []byte(s)
	return ptr(b), uint32(len(b))
}

// report writes "R key=value", which the test collects from the log.
func report(key string, value any) {
	p, n := str(fmt.Sprintf("R %s=%v", key, value))
	proxy_log(2, p, n)
}

func logf(level uint32, format string, args ...any) {
	p, n := str(fmt.Sprintf(format, args...))
	proxy_log(level, p, n)
}

type pair struct{ k, v string }

func serialize(pairs []pair) []byte {
	if len(pairs) == 0 {
		return nil
	}
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(pairs)))
	for _, p := range pairs {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(p.k)))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(p.v)))
	}
	for _, p := range pairs {
		out = append(out, p.k...)
		out = append(out, 0)
		out = append(out, p.v...)
		out = append(out, 0)
	}
	return out
}

func deserialize(b []byte) []pair {
	if len(b) == 0 {
		return nil
	}
	n := binary.LittleEndian.Uint32(b)
	data := b[4+8*n:]
	var out []pair
	for i := range n {
		kl := binary.LittleEndian.Uint32(b[4+8*i:])
		vl := binary.LittleEndian.Uint32(b[8+8*i:])
		out = append(out, pair{string(data[:kl]), string(data[kl+1 : kl+1+vl])})
		data = data[kl+vl+2:]
	}
	return out
}

func pairsString(ps []pair) string {
	var sb strings.Builder
	for i, p := range ps {
		if i > 0 {
			sb.WriteByte('|')
		}
		sb.WriteString(p.k + ":" + p.v)
	}
	return sb.String()
}

// Thin wrappers returning (value, status).

func getHeader(t uint32, key string) (string, uint32, uint32) {
	var p, n uint32
	kp, kn := str(key)
	st := proxy_get_header_map_value(t, kp, kn, &p, &n)
	return string(take(p, n)), st, p
}

func getPairs(t uint32) ([]pair, uint32) {
	var p, n uint32
	st := proxy_get_header_map_pairs(t, &p, &n)
	return deserialize(take(p, n)), st
}

func addHeader(t uint32, k, v string) uint32 {
	kp, kn := str(k)
	vp, vn := str(v)
	return proxy_add_header_map_value(t, kp, kn, vp, vn)
}

func replaceHeader(t uint32, k, v string) uint32 {
	kp, kn := str(k)
	vp, vn := str(v)
	return proxy_replace_header_map_value(t, kp, kn, vp, vn)
}

func removeHeader(t uint32, k string) uint32 {
	kp, kn := str(k)
	return proxy_remove_header_map_value(t, kp, kn)
}

func getBuffer(t, start, max uint32) ([]byte, uint32, uint32) {
	var p, n uint32
	st := proxy_get_buffer_bytes(t, start, max, &p, &n)
	return take(p, n), st, p
}

func setBuffer(t, start, size uint32, data string) uint32 {
	b := []byte(data)
	return proxy_set_buffer_bytes(t, start, size, ptr(b), uint32(len(b)))
}

func getProperty(path ...string) ([]byte, uint32) {
	var p, n uint32
	pp, pn := str(strings.Join(path, "\x00"))
	st := proxy_get_property(pp, pn, &p, &n)
	return take(p, n), st
}

func setProperty(path, value string) uint32 {
	pp, pn := str(path)
	vp, vn := str(value)
	return proxy_set_property(pp, pn, vp, vn)
}

func defineMetric(t uint32, name string) (uint32, uint32) {
	var id uint32
	p, n := str(name)
	st := proxy_define_metric(t, p, n, &id)
	return id, st
}

func getMetric(id uint32) (uint64, uint32) {
	var v uint64
	st := proxy_get_metric(id, &v)
	return v, st
}

func getStatus() (uint32, string, uint32) {
	var code, p, n uint32
	st := proxy_get_status(&code, &p, &n)
	return code, string(take(p, n)), st
}
