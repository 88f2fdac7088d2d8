// Package config parses and validates the shadowdiff plugin configuration:
// the JSON an Envoy Wasm filter passes as `configuration` (Istio: the
// WasmPlugin's pluginConfig). Parse is strict: a bad config stops the plugin
// with an error naming the field, rather than running half-configured.
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("500ms").
type Duration time.Duration

// Config is the plugin configuration. Field names are the JSON names.
type Config struct {
	// Role of the workload this sidecar fronts: "primary" (v1 serving
	// users), "secondary" (a second v1, the noise baseline) or "candidate" (v2).
	Role      string    `json:"role"`
	Collector Collector `json:"collector"`
	Workload  Workload  `json:"workload"`
	// PairingHeader joins the copies of one request (Envoy keeps x-request-id on mirrors).
	PairingHeader string `json:"pairing_header"`
	// ShadowHeader is added to mirrored requests so the service can tell them apart.
	ShadowHeader string `json:"shadow_header"`
	// RestoreAuthority strips Envoy's "-shadow" Host suffix before the request
	// reaches the shadow service, so it sees the Host users sent.
	RestoreAuthority bool `json:"restore_authority"`
	// AssumeShadow treats every request this sidecar receives as a shadow,
	// marked or not (secondary and candidate only). Istio 1.28 and later no
	// longer append "-shadow" to a mirror's Host by default
	// (DISABLE_SHADOW_HOST_SUFFIX), so a mirror arrives unmarked; a
	// workload that only mirrors reach can say so here.
	AssumeShadow bool `json:"assume_shadow"`
	// SamplePercent digests this share of requests (0 < p <= 100). The choice
	// hashes the pairing key, so every role picks the same requests.
	SamplePercent float64     `json:"sample_percent"`
	SideEffects   SideEffects `json:"side_effects"`
	Body          Body        `json:"body"`
	Headers       Headers     `json:"headers"`
	// RawFields lists field prefixes whose raw values are sent ("body.user.tier",
	// "headers.cache-control"); everything else is sent as keyed hashes only.
	// Parse lower-cases the header names in RawFields and Redact.
	RawFields []string `json:"raw_fields"`
	// Redact lists prefixes never sent raw, even under a RawFields prefix.
	Redact []string `json:"redact"`
	// HashKey keys every hash; all roles of a service must share it. Prefer
	// HashKeyEnv (a Secret through the WasmPlugin's vmConfig.env).
	HashKey    string    `json:"hash_key"`
	HashKeyEnv string    `json:"hash_key_env"`
	Batch      Batch     `json:"batch"`
	Queue      Queue     `json:"queue"`
	Reconnect  Reconnect `json:"reconnect"`
}

// Collector says where digests go.
type Collector struct {
	// Cluster is the Envoy cluster of the collector (HTTP/2). Istio:
	// "outbound|9090||shadowdiff-collector.shadowdiff.svc.cluster.local".
	Cluster string `json:"cluster"`
	// Authority is the :authority of the gRPC stream. Envoy sends the
	// cluster name when it is empty, which Istio's cluster names
	// ("outbound|9090||host") are not valid as: for those it defaults to
	// "host:9090".
	Authority string `json:"authority"`
	// Timeout bounds the wait for a batch's acknowledgement; then the stream is reopened.
	Timeout Duration `json:"timeout"`
}

// Workload identifies the sidecar's workload; empty fields are filled from
// the Envoy node metadata Istio sets (WORKLOAD_NAME, NAMESPACE, ...).
type Workload struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Version   string `json:"version"`
	Instance  string `json:"instance"`
}

// SideEffects guards shadows against writes: a mirrored request whose method
// is not safe never reaches the shadow service unless allowed here.
type SideEffects struct {
	// AllowMethods lists unsafe methods that may reach shadows anyway.
	AllowMethods []string `json:"allow_methods"`
	// AllowPaths lists path prefixes that may reach shadows with any method.
	AllowPaths []string `json:"allow_paths"`
	// LocalReplyStatus answers a blocked shadow request.
	LocalReplyStatus int `json:"local_reply_status"`
}

// Body bounds body digests.
type Body struct {
	MaxBodyBytes    int `json:"max_body_bytes"`
	MaxDecodedBytes int `json:"max_decoded_bytes"`
	MaxFields       int `json:"max_fields"`
	// MaxTotalBytes bounds, per VM, the body bytes captured by all streams
	// together, in flight and waiting for their digest: beyond it a stream
	// stops capturing and its digest is marked truncated.
	MaxTotalBytes int `json:"max_total_bytes"`
}

// Headers selects the response headers digested.
type Headers struct {
	Include []string `json:"include"`
	Exclude []string `json:"exclude"`
}

// Batch shapes the gRPC messages sent to the collector.
type Batch struct {
	MaxDigests    int      `json:"max_digests"`
	MaxBytes      int      `json:"max_bytes"`
	FlushInterval Duration `json:"flush_interval"`
}

// Queue bounds what waits while the collector is slow or down; beyond it
// digests are dropped and counted.
type Queue struct {
	MaxDigests int `json:"max_digests"`
	MaxBytes   int `json:"max_bytes"`
}

// Reconnect spaces stream reconnects (exponential backoff with jitter).
type Reconnect struct {
	InitialBackoff Duration `json:"initial_backoff"`
	MaxBackoff     Duration `json:"max_backoff"`
}

// Roles.
const (
	RolePrimary   = "primary"
	RoleSecondary = "secondary"
	RoleCandidate = "candidate"
)

// Default returns the configuration every field falls back to.
func Default() Config {
	return Config{
		Collector:        Collector{Cluster: "shadowdiff-collector", Timeout: Duration(15 * time.Second)},
		PairingHeader:    "x-request-id",
		ShadowHeader:     "x-shadowdiff-shadow",
		RestoreAuthority: true,
		SamplePercent:    100,
		SideEffects:      SideEffects{LocalReplyStatus: 204},
		Body:             Body{MaxBodyBytes: 1 << 20, MaxDecodedBytes: 4 << 20, MaxFields: 2048, MaxTotalBytes: 64 << 20},
		HashKeyEnv:       "SHADOWDIFF_HASH_KEY",
		Batch:            Batch{MaxDigests: 64, MaxBytes: 256 << 10, FlushInterval: Duration(time.Second)},
		Queue:            Queue{MaxDigests: 4096, MaxBytes: 8 << 20},
		Reconnect:        Reconnect{InitialBackoff: Duration(500 * time.Millisecond), MaxBackoff: Duration(30 * time.Second)},
	}
}

// Parse decodes and validates a plugin configuration over the defaults.
// Empty input is an error: the role must be chosen.
func Parse(data []byte) (*Config, error) {
	c := Default()
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, fieldError("role", `required: the plugin configuration is empty; set at least {"role": "primary"}`)
	}
	if err := decodeStrict(data, &c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	c.normalize()
	return &c, nil
}

func (c *Config) normalize() {
	if c.Collector.Authority == "" {
		c.Collector.Authority = istioAuthority(c.Collector.Cluster)
	}
	c.PairingHeader = strings.ToLower(c.PairingHeader)
	c.ShadowHeader = strings.ToLower(c.ShadowHeader)
	for i, m := range c.SideEffects.AllowMethods {
		c.SideEffects.AllowMethods[i] = strings.ToUpper(m)
	}
	lower := func(s []string) {
		for i := range s {
			s[i] = strings.ToLower(s[i])
		}
	}
	lower(c.Headers.Include)
	lower(c.Headers.Exclude)
	// RawAllowed is asked about the lower-case header names Envoy passes, so
	// "headers.X-User-Email" would never match: in redact, never redact.
	for _, list := range [][]string{c.RawFields, c.Redact} {
		for i, p := range list {
			if name, ok := strings.CutPrefix(p, "headers."); ok {
				list[i] = "headers." + strings.ToLower(name)
			}
		}
	}
}

// Upper bounds of the durations. A sidecar waiting over an hour to
// reconnect drops every digest meanwhile, and the sender's arithmetic on
// backoffs (doubling, jitter) stays far from overflow. A collector that has
// not acknowledged a batch for 5 minutes is hung: until collector.timeout
// the plugin keeps waiting on its stream (and, the in-flight bound reached,
// drops new digests as queue_full) instead of reconnecting; 5m is 20 times
// the 15s default.
const (
	maxBackoff          = Duration(time.Hour)
	maxCollectorTimeout = Duration(5 * time.Minute)
)

// Upper bounds of a batch. A batch must fit the collector's limits, or the
// collector ends the stream with InvalidArgument and every batch after it
// is lost the same way: MaxBatchDigests is the collector's default
// --max-batch-digests (collector/server.DefaultMaxBatchDigests) and
// MaxBatchBytes stays well under its default --max-recv-bytes (16 MiB).
const (
	MaxBatchDigests = 1024
	MaxBatchBytes   = 4 << 20
)

// Upper bounds of the queue, per plugin instance (per worker): what waits
// for a slow collector stays within 1 GiB, as body.max_total_bytes does, and
// 1,048,576 digests are 1,024 of the largest batches.
const (
	maxQueueDigests = 1 << 20
	maxQueueBytes   = 1 << 30
)

func (c *Config) validate() error {
	switch c.Role {
	case RolePrimary, RoleSecondary, RoleCandidate:
	case "":
		return fieldError("role", `required: one of "primary", "secondary", "candidate"`)
	default:
		return fieldError("role", fmt.Sprintf(`%q is not a role: want "primary", "secondary" or "candidate"`, c.Role))
	}
	checks := []struct {
		bad   bool
		field string
		msg   string
	}{
		{c.Collector.Cluster == "", "collector.cluster", "required: the Envoy cluster of the collector"},
		{c.Collector.Authority != "" && !validAuthority(c.Collector.Authority), "collector.authority", fmt.Sprintf("%q: must be a host, or host:port (a name of letters, digits and -._~, or a bracketed IPv6 address; a port in 1..65535), without a scheme or path", c.Collector.Authority)},
		{c.Collector.Authority == "" && !validAuthority(c.Collector.Cluster) && istioAuthority(c.Collector.Cluster) == "", "collector.authority",
			"required: the cluster name " + fmt.Sprintf("%q", c.Collector.Cluster) + " is not a valid :authority, which Envoy sends when authority is empty"},
		{c.AssumeShadow && c.Role == RolePrimary, "assume_shadow", "only for the secondary and candidate roles: a primary serves live traffic"},
		{c.Collector.Timeout <= 0 || c.Collector.Timeout > maxCollectorTimeout, "collector.timeout", "must be positive and at most 5m"},
		{!isToken(c.PairingHeader), "pairing_header", "must be a header name"},
		{!isToken(c.ShadowHeader), "shadow_header", "must be a header name"},
		{!(c.SamplePercent > 0 && c.SamplePercent <= 100), "sample_percent", "must be in (0, 100]"},
		{c.SideEffects.LocalReplyStatus < 200 || c.SideEffects.LocalReplyStatus > 599, "side_effects.local_reply_status", "must be an HTTP status in 200..599"},
		{c.Body.MaxBodyBytes < 1 || c.Body.MaxBodyBytes > 64<<20, "body.max_body_bytes", "must be in 1..67108864"},
		{c.Body.MaxDecodedBytes < 1 || c.Body.MaxDecodedBytes > 256<<20, "body.max_decoded_bytes", "must be in 1..268435456"},
		{c.Body.MaxFields < 1 || c.Body.MaxFields > 100000, "body.max_fields", "must be in 1..100000"},
		{c.Body.MaxTotalBytes < c.Body.MaxBodyBytes || c.Body.MaxTotalBytes > 1<<30, "body.max_total_bytes", "must be in body.max_body_bytes..1073741824"},
		{c.HashKey != "" && len(c.HashKey) < 16, "hash_key", "must be at least 16 bytes (use hash_key_env and a Secret)"},
		{c.Batch.MaxDigests < 1 || c.Batch.MaxDigests > MaxBatchDigests, "batch.max_digests",
			"must be in 1..1024: the collector refuses a batch of more digests than its --max-batch-digests (default 1024) and ends the stream"},
		{c.Batch.MaxBytes < 1024 || c.Batch.MaxBytes > MaxBatchBytes, "batch.max_bytes", "must be in 1024..4194304"},
		{c.Batch.FlushInterval < Duration(10*time.Millisecond) || c.Batch.FlushInterval > Duration(time.Minute), "batch.flush_interval", "must be in 10ms..1m"},
		{c.Queue.MaxDigests < c.Batch.MaxDigests || c.Queue.MaxDigests > maxQueueDigests, "queue.max_digests", "must be in batch.max_digests..1048576"},
		{c.Queue.MaxBytes < c.Batch.MaxBytes || c.Queue.MaxBytes > maxQueueBytes, "queue.max_bytes", "must be in batch.max_bytes..1073741824"},
		{c.Reconnect.InitialBackoff <= 0 || c.Reconnect.InitialBackoff > maxBackoff, "reconnect.initial_backoff", "must be positive and at most 1h"},
		{c.Reconnect.MaxBackoff < c.Reconnect.InitialBackoff, "reconnect.max_backoff", "must be at least reconnect.initial_backoff"},
		{c.Reconnect.MaxBackoff > maxBackoff, "reconnect.max_backoff", "must be at most 1h"},
	}
	for _, ch := range checks {
		if ch.bad {
			return fieldError(ch.field, ch.msg)
		}
	}
	// On every shadow request the filter sets shadow_header to "1".
	shadow := strings.ToLower(c.ShadowHeader)
	if shadow == strings.ToLower(c.PairingHeader) {
		return fieldError("shadow_header", fmt.Sprintf("must differ from pairing_header (both %q): the filter sets shadow_header to \"1\" on shadow requests, which would overwrite the pairing key", c.PairingHeader))
	}
	if isProtocolHeader(shadow) {
		return fieldError("shadow_header", fmt.Sprintf("%q is an HTTP framing or connection header: the filter sets shadow_header to \"1\" on shadow requests", c.ShadowHeader))
	}
	for i, m := range c.SideEffects.AllowMethods {
		if !isToken(m) {
			return fieldError(fmt.Sprintf("side_effects.allow_methods[%d]", i), fmt.Sprintf("%q is not an HTTP method", m))
		}
	}
	for i, p := range c.SideEffects.AllowPaths {
		if !strings.HasPrefix(p, "/") {
			return fieldError(fmt.Sprintf("side_effects.allow_paths[%d]", i), fmt.Sprintf("%q must start with '/'", p))
		}
	}
	for _, list := range []struct {
		name  string
		items []string
	}{{"raw_fields", c.RawFields}, {"redact", c.Redact}} {
		for i, p := range list.items {
			if p != "status" && p != "body" && !strings.HasPrefix(p, "body.") && !strings.HasPrefix(p, "body[") && !strings.HasPrefix(p, "headers.") {
				return fieldError(fmt.Sprintf("%s[%d]", list.name, i), fmt.Sprintf(`%q: want "body", "body.<path>" or "headers.<name>"`, p))
			}
		}
	}
	for _, list := range []struct {
		name  string
		items []string
	}{{"headers.include", c.Headers.Include}, {"headers.exclude", c.Headers.Exclude}} {
		for i, h := range list.items {
			if !isToken(h) && !strings.HasPrefix(h, ":") {
				return fieldError(fmt.Sprintf("%s[%d]", list.name, i), fmt.Sprintf("%q is not a header name", h))
			}
		}
	}
	return nil
}

// isProtocolHeader reports whether a lower-case header name carries the
// request's framing, connection or target: a shadow_header among them would
// break every shadow request.
func isProtocolHeader(name string) bool {
	switch name {
	case "host", "content-length", "transfer-encoding", "connection", "keep-alive",
		"proxy-connection", "te", "trailer", "upgrade", "expect":
		return true
	}
	return false
}

// isToken reports whether s is an RFC 9110 token (header names, methods).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// RawAllowed reports whether the raw value of a field in the query namespace
// ("body.user.tier", "headers.etag") may be sent.
func (c *Config) RawAllowed(field string) bool {
	return matchesPrefix(c.RawFields, field) && !matchesPrefix(c.Redact, field)
}

// matchesPrefix: p covers itself and its children ("body.user" covers
// "body.user.tier" and "body.user[]", not "body.username").
func matchesPrefix(prefixes []string, field string) bool {
	for _, p := range prefixes {
		if field == p || (strings.HasPrefix(field, p) && (field[len(p)] == '.' || field[len(p)] == '[')) {
			return true
		}
	}
	return false
}

// istioAuthority is "host:port" for an Istio outbound cluster name
// ("outbound|9090||collector.ns.svc.cluster.local", "outbound|9090|v1|host"),
// else "" (the cluster name itself is then the authority).
func istioAuthority(cluster string) string {
	parts := strings.Split(cluster, "|")
	if len(parts) != 4 || parts[0] != "outbound" {
		return ""
	}
	host := parts[3]
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // an IPv6 literal
	}
	a := host + ":" + parts[1]
	if !validAuthority(a) {
		return ""
	}
	return a
}

// validAuthority reports whether s is a host, or host:port, as an
// HTTP/2 :authority: a name of letters, digits and "-._~", or a bracketed
// IPv6 literal, and a port in 1..65535. Userinfo ("user@") and anything
// else RFC 3986 allows in an authority are refused, though Envoy's codec
// would pass them: they are never what a user means here.
func validAuthority(s string) bool {
	host, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.HasSuffix(s, "]") {
		host, port = s[:i], s[i+1:]
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' {
			return false
		}
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		ip := host[1 : len(host)-1]
		return ip != "" && strings.Trim(ip, "0123456789abcdefABCDEF:.") == ""
	}
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}
