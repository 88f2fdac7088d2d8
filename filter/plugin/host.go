// Package plugin is the shadowdiff filter's logic, independent of how it
// talks to the proxy: filter/abi runs it on the Proxy-Wasm ABI inside
// filter.wasm, filter/sdkhost runs it natively on the tetratelabs SDK (and
// its proxytest emulator in unit tests).
//
// Every callback of one plugin instance runs on one thread (a Wasm VM is
// single-threaded), so the plugin takes no locks.
package plugin

import "time"

// LogLevel follows proxy_log_level_t.
type LogLevel int32

// Log levels.
const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

// Action is what a stream callback returns to the proxy.
type Action int32

const (
	// Continue lets the stream go on.
	Continue Action = 0
	// Pause stops the stream: used only after a local reply.
	Pause Action = 1
)

// Header is one header field; names are lower-case.
type Header = [2]string

// Host is what the plugin needs from the proxy. Stream calls act on the
// stream whose callback is running. Headers, bodies and properties a Host
// returns are only valid until the running callback returns (the Wasm host
// reuses their memory): the plugin copies what it keeps.
type Host interface {
	Log(level LogLevel, msg string)

	RequestHeaders() ([]Header, error)
	ReplaceRequestHeader(name, value string) error
	ResponseHeaders() ([]Header, error)
	// ResponseTrailers returns the response trailers; only valid in
	// Stream.OnResponseTrailers.
	ResponseTrailers() ([]Header, error)
	// RequestBody / ResponseBody return the first size bytes of the body
	// buffer of the running callback.
	RequestBody(size int) ([]byte, error)
	ResponseBody(size int) ([]byte, error)
	SendLocalResponse(status int, body []byte, headers []Header, details string) error
	// Property reads an Envoy attribute ("xds", "route_name"); ok is false
	// when the host does not know it.
	Property(path ...string) (value []byte, ok bool)

	DefineCounter(name string) (Counter, error)
	SetTickPeriod(d time.Duration) error

	// OpenStream opens a gRPC stream to an Envoy cluster with the given
	// :authority (Envoy sends the cluster name when it is empty); replies
	// arrive through Root.OnStreamMessage and Root.OnStreamClose.
	OpenStream(cluster, authority, service, method string, metadata []Header) (uint32, error)
	// SendOnStream copies msg: the plugin reuses its memory.
	SendOnStream(id uint32, msg []byte) error
	// CloseStream ends a stream the collector has closed (proxy_grpc_close:
	// in Envoy only a half-close, which frees the stream once the remote
	// side is closed too).
	CloseStream(id uint32) error
	// CancelStream resets a stream the plugin abandons (proxy_grpc_cancel):
	// Envoy resets it at once and delivers no further callbacks for it.
	CancelStream(id uint32) error
}

// Counter is a monotonically increasing metric.
type Counter interface {
	Add(n uint64)
}
