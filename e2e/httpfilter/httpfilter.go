// Package httpfilter is the seam between the harness's Envoy subset (the
// connection manager, router and clusters) and the HTTP filters it runs,
// the Proxy-Wasm host above all. It mirrors the shape of Envoy's
// StreamDecoderFilter / StreamEncoderFilter so the host can reproduce
// Envoy's filter-status semantics exactly.
package httpfilter

import (
	"net/http"
	"strings"
	"time"
)

// Status is what a filter callback returns, in Envoy's terms.
type Status int

const (
	// Continue passes the headers or data on to the next filter.
	Continue Status = iota
	// StopIteration stops headers from going on until the filter resumes
	// the stream (Envoy's StopAllIterationAndWatermark for Wasm).
	StopIteration
	// StopAndBuffer, from a data callback, keeps the data: the manager
	// buffers it and calls the filter again with the whole buffer, up to the
	// buffer limit, where it answers 413 (request) or 500 (response).
	StopAndBuffer
	// StopNoBuffer, from a data callback, stops without buffering.
	StopNoBuffer
)

// Header is one header field. Names are lower-case; pseudo-headers
// (":method", ":path", ":authority", ":scheme", ":status") are included.
type Header struct {
	Name, Value string
}

// Headers is an ordered header map, as Envoy keeps it.
type Headers struct {
	Fields []Header
}

// Get returns the first value of name, as Envoy's get_header_map_value does.
func (h *Headers) Get(name string) (string, bool) {
	name = strings.ToLower(name)
	for _, f := range h.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// Add appends a field.
func (h *Headers) Add(name, value string) {
	h.Fields = append(h.Fields, Header{strings.ToLower(name), value})
}

// Set replaces every value of name with one, or adds it.
func (h *Headers) Set(name, value string) {
	h.Del(name)
	h.Add(name, value)
}

// Del removes every value of name.
func (h *Headers) Del(name string) {
	name = strings.ToLower(name)
	kept := h.Fields[:0]
	for _, f := range h.Fields {
		if f.Name != name {
			kept = append(kept, f)
		}
	}
	h.Fields = kept
}

// Clone returns a deep copy.
func (h *Headers) Clone() *Headers {
	return &Headers{Fields: append([]Header(nil), h.Fields...)}
}

// Buffer is a body buffer a filter may read and rewrite.
type Buffer struct {
	Data []byte
}

// StreamInfo holds what Envoy knows about a stream, for properties and logs.
// The manager fills the route fields before DecodeHeaders and the response
// fields as they become known.
type StreamInfo struct {
	StartTime time.Time
	// "HTTP/1.0", "HTTP/1.1", "HTTP/2".
	Protocol string
	// Downstream (client) and local addresses, "ip:port".
	DownstreamRemoteAddress string
	DownstreamLocalAddress  string
	ConnectionID            uint64

	ListenerName    string
	VirtualHostName string
	RouteName       string
	ClusterName     string
	// Upstream host chosen by the router, "ip:port"; empty until chosen.
	UpstreamAddress string

	ResponseCode        int
	ResponseCodeDetails string
	// Time of the first upstream response byte; zero until then.
	FirstUpstreamByte time.Time
	BytesReceived     int64
	BytesSent         int64

	// Filter state written by filters (Wasm set_property stores "wasm.<path>").
	FilterState map[string][]byte
}

// Callbacks is what the manager offers a filter, like Envoy's
// StreamDecoderFilterCallbacks and StreamEncoderFilterCallbacks.
type Callbacks interface {
	// SendLocalReply answers the downstream without going upstream. It takes
	// effect when the current callback returns.
	SendLocalReply(status int, body []byte, headers *Headers, details string)
	// ContinueDecoding / ContinueEncoding resume a stopped direction.
	ContinueDecoding()
	ContinueEncoding()
	// ResetStream resets the stream (Wasm close_stream).
	ResetStream()
	StreamInfo() *StreamInfo
	// RequestHeaders / ResponseHeaders give the maps for the access-log phase.
	RequestHeaders() *Headers
	ResponseHeaders() *Headers
	ResponseTrailers() *Headers
}

// Filter is one HTTP filter instance, living for one stream.
type Filter interface {
	DecodeHeaders(h *Headers, endStream bool) Status
	DecodeData(b *Buffer, endStream bool) Status
	DecodeTrailers(t *Headers) Status
	EncodeHeaders(h *Headers, endStream bool) Status
	EncodeData(b *Buffer, endStream bool) Status
	EncodeTrailers(t *Headers) Status
	// Log runs in the access-log phase after the stream completed.
	Log()
	// Destroy runs once when the stream ends, completed or not.
	Destroy()
}

// Factory makes a filter per stream.
type Factory interface {
	NewFilter(cb Callbacks) Filter
}

// Cluster is an upstream cluster as the filters' callouts see it
// (proxy_http_call, proxy_grpc_call, proxy_grpc_stream).
type Cluster interface {
	Name() string
	// NextEndpoint returns the next endpoint "host:port", round robin.
	NextEndpoint() (string, error)
	// HTTP2 reports whether the cluster speaks HTTP/2 (cleartext h2c).
	HTTP2() bool
	// RoundTrip sends a request to the next endpoint over the cluster's protocol.
	RoundTrip(*http.Request) (*http.Response, error)
}

// Clusters looks up clusters by name.
type Clusters interface {
	Cluster(name string) (Cluster, bool)
}
