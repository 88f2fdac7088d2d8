//go:build wasip1

package abi

import (
	"time"

	"github.com/shadowdiff/shadowdiff/filter/plugin"
)

// Buffer and map types of the ABI.
const (
	bufferRequestBody  = 0
	bufferResponseBody = 1
	bufferGrpcMessage  = 5
	bufferPluginConfig = 7
	mapRequestHeaders  = 0
	mapResponseHeaders = 2
	metricCounter      = 0
	grpcStatusUnset    = -1
)

// host implements plugin.Host on the ABI. It has no state: the proxy routes
// every call to the context whose callback is running.
type host struct{}

// Scratch space reused from call to call; what is returned from it is valid
// until the callback returns (plugin.Host's contract).
var (
	requestHeaders, responseHeaders [][2]string
	propertyScratch                 []byte
)

var _ plugin.Host = host{}

func (host) Log(level plugin.LogLevel, msg string) {
	proxyLog(uint32(level), strPtr(msg), uint32(len(msg)))
}

func getBuffer(buffer uint32, size int) ([]byte, error) {
	var p, n uint32
	if err := check(proxyGetBufferBytes(buffer, 0, uint32(size), &p, &n)); err != nil {
		return nil, err
	}
	return take(p, n), nil
}

func getMap(mapType uint32, dst *[][2]string) ([][2]string, error) {
	var p, n uint32
	if err := check(proxyGetHeaderMapPairs(mapType, &p, &n)); err != nil {
		return nil, err
	}
	m, err := decodeMap(*dst, take(p, n))
	*dst = m
	return m, err
}

func (host) RequestHeaders() ([]plugin.Header, error) {
	return getMap(mapRequestHeaders, &requestHeaders)
}

func (host) ResponseHeaders() ([]plugin.Header, error) {
	return getMap(mapResponseHeaders, &responseHeaders)
}

func (host) ReplaceRequestHeader(name, value string) error {
	return check(proxyReplaceHeaderMapValue(mapRequestHeaders, strPtr(name), uint32(len(name)), strPtr(value), uint32(len(value))))
}

func (host) RequestBody(size int) ([]byte, error)  { return getBuffer(bufferRequestBody, size) }
func (host) ResponseBody(size int) ([]byte, error) { return getBuffer(bufferResponseBody, size) }

func (host) SendLocalResponse(code int, body []byte, headers []plugin.Header, details string) error {
	hs := encodeMap(headers)
	return check(proxySendLocalResponse(uint32(code), strPtr(details), uint32(len(details)), ptr(body), uint32(len(body)),
		ptr(hs), uint32(len(hs)), grpcStatusUnset))
}

func (host) Property(path ...string) ([]byte, bool) {
	p := appendPropertyPath(propertyScratch[:0], path)
	propertyScratch = p
	var rp, rn uint32
	if proxyGetProperty(ptr(p), uint32(len(p)), &rp, &rn) != uint32(statusOK) {
		return nil, false
	}
	return take(rp, rn), true
}

type counter uint32

func (c counter) Add(n uint64) {
	if n > 0 {
		proxyIncrementMetric(uint32(c), int64(n))
	}
}

func (host) DefineCounter(name string) (plugin.Counter, error) {
	var id uint32
	if err := check(proxyDefineMetric(metricCounter, strPtr(name), uint32(len(name)), &id)); err != nil {
		return nil, err
	}
	return counter(id), nil
}

func (host) SetTickPeriod(d time.Duration) error {
	return check(proxySetTickPeriodMilliseconds(uint32(d.Milliseconds())))
}

func (host) OpenStream(cluster, authority, service, method string, metadata []plugin.Header) (uint32, error) {
	up := grpcService(cluster, authority)
	md := encodeMap(metadata)
	var id uint32
	err := check(proxyGrpcStream(ptr(up), uint32(len(up)), strPtr(service), uint32(len(service)),
		strPtr(method), uint32(len(method)), ptr(md), uint32(len(md)), &id))
	return id, err
}

func (host) SendOnStream(id uint32, msg []byte) error {
	return check(proxyGrpcSend(id, ptr(msg), uint32(len(msg)), 0))
}

func (host) CloseStream(id uint32) error  { return check(proxyGrpcClose(id)) }
func (host) CancelStream(id uint32) error { return check(proxyGrpcCancel(id)) }

// grpcStatusMessage reads the status of the gRPC call that just closed.
func grpcStatusMessage() string {
	var code, p, n uint32
	if proxyGetStatus(&code, &p, &n) != uint32(statusOK) {
		return ""
	}
	return string(take(p, n))
}
