package proxywasm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// maxCallResponseBytes bounds a buffered proxy_http_call response body.
const maxCallResponseBytes = 64 << 20

// callout is an outstanding http or gRPC call of a VM, keyed by its id.
type callout interface{ cancel() }

type httpCall struct{ stop context.CancelFunc }

func (c *httpCall) cancel() { c.stop() }

// newCalloutID allocates a callout id of type t (low two bits), stepping by 4.
func (v *vm) newCalloutID(t uint32) uint32 {
	v.nextCall[t] += calloutIncrement
	return v.nextCall[t]
}

func httpCallFuncs() []hostFunc {
	return []hostFunc{
		{name: "proxy_http_call", params: i32s(10), fn: proxyHTTPCall},
	}
}

// callResult is a finished proxy_http_call: a response, or a failure.
type callResult struct {
	headers, trailers *httpfilter.Headers
	body              []byte
	failure           string // "" on success
}

// proxyHTTPCall sends a request to an Envoy cluster. As in Envoy the
// upstream is a cluster name (unknown: BAD_ARGUMENT), :method, :path and
// :authority are required, a negative timeout is BAD_ARGUMENT and 0 means
// none. The response arrives in proxy_on_http_call_response on the root context.
func proxyHTTPCall(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	upstream, ok1 := readString(mod, uint32(p[0]), uint32(p[1]))
	hdrBytes, ok2 := readBytes(mod, uint32(p[2]), uint32(p[3]))
	body, ok3 := readBytes(mod, uint32(p[4]), uint32(p[5]))
	trlBytes, ok4 := readBytes(mod, uint32(p[6]), uint32(p[7]))
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return statusInvalidMemoryAccess
	}
	timeout := int32(uint32(p[8]))
	cluster, found := v.cluster(upstream)
	if !found || timeout < 0 {
		return statusBadArgument
	}
	hdrs, okH := parsePairs(hdrBytes)
	trls, okT := parsePairs(trlBytes)
	if !okH || !okT {
		return statusBadArgument
	}
	req, err := buildCallRequest(hdrs, body, trls)
	if err != nil {
		return statusBadArgument
	}
	id := v.newCalloutID(calloutHTTPCall)
	if !writeU32(mod, uint32(p[9]), id) {
		return statusInvalidMemoryAccess
	}
	ctx, cancel := context.WithCancel(v.calloutCtx)
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(v.calloutCtx, time.Duration(timeout)*time.Millisecond)
	}
	v.callouts[id] = &httpCall{stop: cancel}
	go func() {
		res := doHTTPCall(ctx, cluster, req.WithContext(ctx))
		cancel()
		v.runAsync(func(fr *frame) { v.deliverHTTPCall(fr, id, res) })
	}()
	return statusOK
}

// cluster looks an upstream cluster up by name.
func (v *vm) cluster(name string) (httpfilter.Cluster, bool) {
	cs := v.p.r.opts.Clusters
	if cs == nil {
		return nil, false
	}
	return cs.Cluster(name)
}

func buildCallRequest(hdrs []httpfilter.Header, body []byte, trls []httpfilter.Header) (*http.Request, error) {
	h := &httpfilter.Headers{Fields: hdrs}
	method, okM := h.Get(":method")
	path, okP := h.Get(":path")
	authority, okA := h.Get(":authority")
	if !okA {
		authority, okA = h.Get("host")
	}
	if !okM || !okP || !okA || method == "" || path == "" || authority == "" {
		return nil, errors.New("missing :method, :path or :authority")
	}
	// The cluster, not :scheme, decides the transport (plaintext here).
	req, err := http.NewRequest(method, "http://"+authority+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if len(body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for _, f := range hdrs {
		if !strings.HasPrefix(f.Name, ":") && f.Name != "host" && f.Name != "content-length" {
			req.Header.Add(f.Name, f.Value)
		}
	}
	if len(trls) > 0 {
		req.Trailer = http.Header{}
		for _, f := range trls {
			req.Trailer.Add(f.Name, f.Value)
		}
	}
	return req, nil
}

// doHTTPCall runs the request. Like Envoy's router, a timeout becomes a
// local 504 and a connection failure a local 503; only a failure after the
// response started is a call failure.
func doHTTPCall(ctx context.Context, cluster httpfilter.Cluster, req *http.Request) callResult {
	resp, err := cluster.RoundTrip(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return localCallResult(http.StatusGatewayTimeout, "upstream request timeout")
		}
		return localCallResult(http.StatusServiceUnavailable,
			"upstream connect error or disconnect/reset before headers. reset reason: connection failure")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCallResponseBytes+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return localCallResult(http.StatusGatewayTimeout, "upstream request timeout")
		}
		return callResult{failure: "reset"}
	}
	if len(body) > maxCallResponseBytes {
		return callResult{failure: "exceeded_response_buffer_limit"}
	}
	res := callResult{headers: &httpfilter.Headers{}, trailers: &httpfilter.Headers{}, body: body}
	res.headers.Add(":status", strconv.Itoa(resp.StatusCode))
	addHTTPHeader(res.headers, resp.Header)
	addHTTPHeader(res.trailers, resp.Trailer)
	return res
}

func addHTTPHeader(dst *httpfilter.Headers, h http.Header) {
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, val := range h[k] {
			dst.Add(k, val)
		}
	}
}

func localCallResult(code int, body string) callResult {
	h := &httpfilter.Headers{}
	h.Add(":status", strconv.Itoa(code))
	h.Add("content-length", strconv.Itoa(len(body)))
	h.Add("content-type", "text/plain")
	return callResult{headers: h, trailers: &httpfilter.Headers{}, body: []byte(body)}
}

// deliverHTTPCall calls proxy_on_http_call_response unless the call was
// cancelled. A failure is reported with 0 headers and status
// BrokenConnection in proxy_get_status.
func (v *vm) deliverHTTPCall(fr *frame, id uint32, res callResult) {
	if _, ok := v.callouts[id]; !ok {
		return
	}
	delete(v.callouts, id)
	if v.fns.onHTTPCallResponse == nil {
		return
	}
	var nh, nt int
	if res.failure != "" {
		fr.status = &calloutStatus{code: uint32(statusBrokenConnection), message: res.failure}
	} else {
		fr.status = &calloutStatus{}
		fr.callHeaders, fr.callTrailers, fr.callBody = res.headers, res.trailers, &res.body
		nh, nt = len(res.headers.Fields), len(res.trailers.Fields)
	}
	_, _ = v.call(fr, v.fns.onHTTPCallResponse, uint64(v.rootID), uint64(id), uint64(nh), uint64(len(res.body)), uint64(nt))
}
