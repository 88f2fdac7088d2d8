package envoy

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// hopByHop are the connection-specific headers Envoy never forwards.
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true,
	"transfer-encoding": true, "upgrade": true, "te": true, "trailer": true,
}

// requestHeaders builds Envoy's header map of a downstream request:
// pseudo-headers first, then the fields in name order, lower-cased.
func requestHeaders(r *http.Request) *httpfilter.Headers {
	h := &httpfilter.Headers{Fields: make([]httpfilter.Header, 0, len(r.Header)+4)}
	path := r.RequestURI
	if path == "" {
		path = r.URL.RequestURI()
	}
	h.Add(":authority", r.Host)
	h.Add(":path", path)
	h.Add(":method", r.Method)
	h.Add(":scheme", "http")
	appendFields(h, r.Header)
	// Envoy keeps "te: trailers" (gRPC needs it) and drops other TE values.
	if te := r.Header.Get("Te"); strings.EqualFold(te, "trailers") {
		h.Add("te", "trailers")
	}
	return h
}

// responseHeaders builds the header map of an upstream response.
func responseHeaders(resp *http.Response) *httpfilter.Headers {
	h := &httpfilter.Headers{Fields: make([]httpfilter.Header, 0, len(resp.Header)+1)}
	h.Add(":status", strconv.Itoa(resp.StatusCode))
	appendFields(h, resp.Header)
	return h
}

// trailerHeaders builds a trailer map, skipping empty announced keys; nil
// if there is none.
func trailerHeaders(t http.Header) *httpfilter.Headers {
	for _, v := range t {
		if len(v) > 0 {
			h := &httpfilter.Headers{}
			appendFields(h, t)
			if len(h.Fields) == 0 {
				return nil
			}
			return h
		}
	}
	return nil
}

func appendFields(h *httpfilter.Headers, hdr http.Header) {
	var stack [32]string
	names := stack[:0]
	for name := range hdr {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		lower := knownHeaders.toLower(name)
		if hopByHop[lower] {
			continue
		}
		for _, v := range hdr[name] {
			h.Fields = append(h.Fields, httpfilter.Header{Name: lower, Value: v})
		}
	}
}

// httpHeader converts the regular (non-pseudo, not hop-by-hop) fields to an
// http.Header, leaving out the names in skip.
func httpHeader(h *httpfilter.Headers, skip ...string) http.Header {
	out := make(http.Header, len(h.Fields))
	addHTTPFields(out, h, skip...)
	return out
}

// addHTTPFields adds the regular fields of h to out, but those in skip.
// The values share one backing array: a name's first value is a slice of
// it whose capacity ends with it, so appending a second value copies.
func addHTTPFields(out http.Header, h *httpfilter.Headers, skip ...string) {
	values := make([]string, 0, len(h.Fields))
	for _, f := range h.Fields {
		if strings.HasPrefix(f.Name, ":") || hopByHop[f.Name] && !(f.Name == "te" && f.Value == "trailers") ||
			slices.Contains(skip, f.Name) {
			continue
		}
		key := knownHeaders.toCanonical(f.Name)
		if prev, ok := out[key]; ok {
			out[key] = append(prev, f.Value)
			continue
		}
		values = append(values, f.Value)
		out[key] = values[len(values)-1 : len(values) : len(values)]
	}
}

// contentLength returns the content-length field, or -1.
func contentLength(h *httpfilter.Headers) int64 {
	v, ok := h.Get("content-length")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// statusOf returns the :status of a response header map (502 if invalid).
func statusOf(h *httpfilter.Headers) int {
	v, _ := h.Get(":status")
	n, err := strconv.Atoi(v)
	if err != nil || n < 100 || n > 999 {
		return http.StatusBadGateway
	}
	return n
}

// shadowAuthority appends "-shadow" to the host part of an authority,
// before any port: "localhost:10000" → "localhost-shadow:10000".
func shadowAuthority(authority string) string {
	host, port := authority, ""
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.HasSuffix(authority, "]") {
		host, port = authority[:i], authority[i:]
	}
	return host + "-shadow" + port
}
