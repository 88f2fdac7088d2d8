package envoy

import (
	"net/http"
	"strings"
)

// headerNames maps the names most requests carry between net/http's
// canonical form and Envoy's lower case, so converting them allocates
// nothing. It is built once and only read.
type headerNames struct {
	lower, canonical map[string]string
}

var knownHeaders = newHeaderNames(
	"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
	"Connection", "Content-Encoding", "Content-Length", "Content-Type", "Cookie", "Date",
	"Etag", "Expect", "Host", "If-Modified-Since", "If-None-Match", "Keep-Alive",
	"Last-Modified", "Location", "Origin", "Pragma", "Referer", "Server", "Set-Cookie",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent", "Vary",
	"Traceparent", "Tracestate", "X-Forwarded-For", "X-Forwarded-Proto", "X-Request-Id",
	"X-Envoy-Expected-Rq-Timeout-Ms", "X-Envoy-Original-Path", "X-Envoy-Upstream-Service-Time",
	"X-Shadowdiff-Shadow",
)

func newHeaderNames(canonical ...string) headerNames {
	n := headerNames{lower: make(map[string]string, len(canonical)), canonical: make(map[string]string, len(canonical))}
	for _, c := range canonical {
		l := strings.ToLower(c)
		n.lower[c], n.canonical[l] = l, c
	}
	return n
}

// toLower returns Envoy's form of a net/http header name.
func (n headerNames) toLower(name string) string {
	if l, ok := n.lower[name]; ok {
		return l
	}
	return strings.ToLower(name)
}

// toCanonical returns net/http's form of a lower-case header name.
func (n headerNames) toCanonical(name string) string {
	if c, ok := n.canonical[name]; ok {
		return c
	}
	return http.CanonicalHeaderKey(name)
}
