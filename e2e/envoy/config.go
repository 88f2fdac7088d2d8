package envoy

import (
	"regexp"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// Config is a bootstrap reduced to the supported subset, validated.
type Config struct {
	// Node is bootstrap.node (id, cluster and metadata, whose values may
	// be any google.protobuf.Value), nil when the bootstrap has none. Wasm
	// hosts serve it whole as the xds.node property, as Envoy does.
	Node      *corev3.Node
	Admin     *Admin
	Listeners []*Listener
	Clusters  []*ClusterConfig
}

// Admin is bootstrap.admin.
type Admin struct {
	Address string // "host:port"
}

// Listener is one static listener with its HTTP connection manager.
type Listener struct {
	Name    string
	Address string // "host:port"
	// BufferLimit is per_connection_buffer_limit_bytes (default 1 MiB): the
	// most a filter may buffer of a request or response body.
	BufferLimit int
	HCM         *HCM
}

// Codec is the downstream protocol a listener accepts.
type Codec int

// Codecs of HttpConnectionManager.codec_type.
const (
	CodecAuto Codec = iota
	CodecHTTP1
	CodecHTTP2
)

// HCM is the HTTP connection manager of a listener.
type HCM struct {
	StatPrefix        string
	Codec             Codec
	GenerateRequestID bool
	AccessLog         bool
	Routes            *RouteConfig
	// Filters are the HTTP filters before the router, in order.
	Filters []*FilterConfig
}

// FilterConfig is one HTTP filter of the chain (the router excluded).
type FilterConfig struct {
	Name string
	// Path is the filter's YAML path, for errors.
	Path string
	Wasm *WasmConfig
}

// WasmConfig is an envoy.extensions.filters.http.wasm.v3.Wasm filter.
type WasmConfig struct {
	// Path is the filter's YAML path, for errors.
	Path    string
	Name    string
	RootID  string
	VMID    string
	Runtime string
	// CodeFile is vm_config.code.local.filename; Code is read from it when
	// the server starts (or holds inline_bytes / inline_string).
	CodeFile string
	Code     []byte
	// VMConfiguration and Configuration are the StringValue/BytesValue payloads.
	VMConfiguration []byte
	Configuration   []byte
	FailOpen        bool
	// Env is vm_config.environment_variables: key_values, plus host_env_keys
	// resolved from the process environment when the server starts.
	Env         map[string]string
	HostEnvKeys []string
}

// RouteConfig is an inline route_config.
type RouteConfig struct {
	Name         string
	VirtualHosts []*VirtualHost
	Mirrors      []*MirrorPolicy
}

// VirtualHost is one virtual host.
type VirtualHost struct {
	Name    string
	Domains []string
	Routes  []*Route
	Mirrors []*MirrorPolicy
}

// Route is one route: a match and a cluster action.
type Route struct {
	Name  string
	Match RouteMatch
	// Cluster is the upstream cluster.
	Cluster string
	// Timeout is the whole-request timeout; 0 means none.
	Timeout       time.Duration
	PrefixRewrite string
	// Mirrors are the effective mirror policies: the route's, else the
	// virtual host's, else the route configuration's.
	Mirrors []*MirrorPolicy
}

// RouteMatch is a route's match.
type RouteMatch struct {
	// Exactly one of Prefix, Path and Regex is used, by Kind.
	Kind          MatchKind
	Prefix, Path  string
	Regex         *regexp.Regexp
	CaseSensitive bool
	Headers       []HeaderMatch
}

// MatchKind says which path rule a route uses.
type MatchKind int

// Path rules.
const (
	MatchPrefix MatchKind = iota
	MatchPath
	MatchRegex
)

// HeaderMatch matches one request header.
type HeaderMatch struct {
	Name string
	// Kind is "present", "exact", "prefix", "suffix" or "contains".
	Kind       string
	Value      string
	IgnoreCase bool
	// Present is present_match's value (false matches an absent header).
	Present bool
	Invert  bool
}

// MirrorPolicy is one request_mirror_policies entry.
type MirrorPolicy struct {
	Cluster string
	// Numerator / Denominator is runtime_fraction.default_value; a policy
	// without runtime_fraction has 100/100.
	Numerator, Denominator uint64
	DisableShadowSuffix    bool
	HostRewrite            string
}

// ClusterConfig is one static cluster.
type ClusterConfig struct {
	Name string
	// Type is "STATIC" or "STRICT_DNS".
	Type           string
	ConnectTimeout time.Duration
	// Endpoints are "host:port" from load_assignment.
	Endpoints      []string
	HTTP2          bool
	DNSRefreshRate time.Duration
	// DNSFamily is "ip4", "ip6" or "ip" (Go's network names).
	DNSFamily string
}

const (
	defaultBufferLimit    = 1 << 20
	defaultRouteTimeout   = 15 * time.Second
	defaultConnectTimeout = 5 * time.Second
	defaultDNSRefreshRate = 5 * time.Second
)
