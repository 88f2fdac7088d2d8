package proxywasm

import (
	"context"
	"strconv"
	"strings"
	"unicode"

	"github.com/tetratelabs/wazero/api"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// convertHeaders maps a headers callback result as Envoy does: 0 Continue,
// 2 ContinueAndDontEndStream (treated as Continue), anything else stops
// (1 becomes StopAllIterationAndWatermark without allow_on_headers_stop_iteration).
func convertHeaders(raw uint64) httpfilter.Status {
	if uint32(raw) == headersContinue || uint32(raw) == headersContinueAndEndStream {
		return httpfilter.Continue
	}
	return httpfilter.StopIteration
}

// convertData maps a body callback result: 0 Continue, 1 (PAUSE) and 2
// buffer, 3 and above StopIterationNoBuffer.
func convertData(raw uint64) httpfilter.Status {
	switch uint32(raw) {
	case dataContinue:
		return httpfilter.Continue
	case dataStopIterationAndBuffer, dataStopIterationWatermark:
		return httpfilter.StopAndBuffer
	}
	return httpfilter.StopNoBuffer
}

// convertTrailers maps a trailers callback result: 0 Continue, else stop.
func convertTrailers(raw uint64) httpfilter.Status {
	if uint32(raw) == trailersContinue {
		return httpfilter.Continue
	}
	return httpfilter.StopIteration
}

func streamFuncs() []hostFunc {
	return []hostFunc{
		{name: "proxy_continue_stream", params: i32s(1), fn: proxyContinueStream},
		{name: "proxy_close_stream", params: i32s(1), fn: proxyCloseStream},
		{name: "proxy_send_local_response", params: i32s(8), fn: proxySendLocalResponse},
	}
}

// proxyContinueStream resumes a direction of the effective stream after the
// current VM call returns. UPSTREAM is UNIMPLEMENTED in Envoy.
func proxyContinueStream(_ context.Context, v *vm, _ api.Module, p []uint64) status {
	switch t := streamType(p[0]); t {
	case streamHTTPRequest, streamHTTPResponse:
		if s := v.frame.stream; s != nil {
			s.pending.resume[t] = true
			v.frame.touch(s)
		}
		return statusOK
	case streamDownstream:
		return statusOK
	case streamUpstream:
		return statusUnimplemented
	}
	return statusBadArgument
}

// proxyCloseStream resets the effective HTTP stream after the call returns,
// with response code details wasm_close_stream.
func proxyCloseStream(_ context.Context, v *vm, _ api.Module, p []uint64) status {
	switch t := streamType(p[0]); t {
	case streamHTTPRequest, streamHTTPResponse:
		if s := v.frame.stream; s != nil {
			if info := s.cb.StreamInfo(); info != nil && info.ResponseCodeDetails == "" {
				info.ResponseCodeDetails = closeStreamDetails
			}
			s.pending.reset = true
			v.frame.touch(s)
		}
		return statusOK
	case streamDownstream, streamUpstream:
		return statusOK
	}
	return statusBadArgument
}

// proxySendLocalResponse answers the effective stream locally once the VM
// call returns. A gRPC status outside 0..16 (e.g. -1) sends no grpc-status.
func proxySendLocalResponse(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	code := uint32(p[0])
	details, ok1 := readString(mod, uint32(p[1]), uint32(p[2]))
	body, ok2 := readBytes(mod, uint32(p[3]), uint32(p[4]))
	hdrBytes, ok3 := readBytes(mod, uint32(p[5]), uint32(p[6]))
	if !ok1 || !ok2 || !ok3 {
		return statusInvalidMemoryAccess
	}
	fields, ok := parsePairs(hdrBytes)
	if !ok {
		return statusBadArgument
	}
	s := v.frame.stream
	if s == nil {
		return statusOK
	}
	hdrs := &httpfilter.Headers{}
	for _, f := range fields {
		hdrs.Add(f.Name, f.Value)
	}
	if gs := int32(uint32(p[7])); gs >= 0 && gs <= maxGrpcStatus && isGrpcRequest(s) {
		hdrs.Set("grpc-status", strconv.Itoa(int(gs)))
	}
	s.pending.localReply = &localReply{
		status:  int(code),
		body:    body,
		headers: hdrs,
		details: strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return '_'
			}
			return r
		}, details),
	}
	v.frame.touch(s)
	return statusOK
}

func isGrpcRequest(s *stream) bool {
	h := s.seen[mapRequestHeaders]
	if h == nil {
		return false
	}
	ct, _ := h.Get("content-type")
	return strings.HasPrefix(ct, "application/grpc")
}
