package proxywasm

import (
	"context"
	"encoding/base64"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/tetratelabs/wazero/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

func grpcFuncs() []hostFunc {
	return []hostFunc{
		{name: "proxy_grpc_call", params: i32s(12), fn: proxyGrpcCall},
		{name: "proxy_grpc_stream", params: i32s(9), fn: proxyGrpcStream},
		{name: "proxy_grpc_send", params: i32s(4), fn: proxyGrpcSend},
		{name: "proxy_grpc_cancel", params: i32s(1), fn: proxyGrpcCancel},
		{name: "proxy_grpc_close", params: i32s(1), fn: proxyGrpcClose},
		{name: "proxy_get_status", params: i32s(3), fn: proxyGetStatus},
	}
}

// grpcTarget is a resolved gRPC upstream.
type grpcTarget struct {
	cluster  httpfilter.Cluster
	metadata metadata.MD
	timeout  time.Duration // unary calls: timeout_ms, else GrpcService.timeout; 0 = none
	path     string        // "/service/method"
	// authority is the :authority Envoy sends: EnvoyGrpc.authority, else
	// the cluster name, with any :authority of the initial metadata
	// appended after a comma (Envoy adds metadata with addCopy, which
	// appends to a header already set).
	authority string
}

// resolveGrpc parses the upstream as Envoy does: first as a serialized
// envoy.config.core.v3.GrpcService; when that fails, as a cluster name.
func (v *vm) resolveGrpc(mod api.Module, p []uint64) (grpcTarget, status) {
	up, ok1 := readBytes(mod, uint32(p[0]), uint32(p[1]))
	service, ok2 := readString(mod, uint32(p[2]), uint32(p[3]))
	method, ok3 := readString(mod, uint32(p[4]), uint32(p[5]))
	mdBytes, ok4 := readBytes(mod, uint32(p[6]), uint32(p[7]))
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return grpcTarget{}, statusInvalidMemoryAccess
	}
	pairs, ok := parsePairs(mdBytes)
	if !ok {
		return grpcTarget{}, statusBadArgument
	}
	t := grpcTarget{metadata: metadata.MD{}, path: "/" + service + "/" + method}
	var svc corev3.GrpcService
	if err := proto.Unmarshal(up, &svc); err == nil {
		name := svc.GetEnvoyGrpc().GetClusterName()
		if name == "" {
			return grpcTarget{}, statusBadArgument
		}
		c, found := v.cluster(name)
		if !found {
			return grpcTarget{}, statusInternalFailure
		}
		t.cluster = c
		t.authority = name
		if a := svc.GetEnvoyGrpc().GetAuthority(); a != "" {
			t.authority = a
		}
		t.timeout = svc.GetTimeout().AsDuration()
		for _, hv := range svc.GetInitialMetadata() {
			addOutgoing(t.metadata, hv.GetKey(), hv.GetValue())
		}
	} else {
		c, found := v.cluster(string(up))
		if !found {
			return grpcTarget{}, statusParseFailure
		}
		t.cluster = c
		t.authority = string(up)
	}
	for _, f := range pairs {
		if strings.EqualFold(f.Name, ":authority") {
			t.authority += "," + f.Value
			continue
		}
		addOutgoing(t.metadata, f.Name, f.Value)
	}
	return t, statusOK
}

// addOutgoing adds wire-form metadata; gRPC wants -bin values decoded.
func addOutgoing(md metadata.MD, key, value string) {
	key = strings.ToLower(key)
	if strings.HasSuffix(key, "-bin") {
		if b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(value, "=")); err == nil {
			value = string(b)
		}
	}
	md.Append(key, value)
}

// proxyGrpcCall starts a unary call; as in Envoy, success is reported with
// proxy_on_grpc_receive alone and failure with proxy_on_grpc_close alone.
func proxyGrpcCall(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	t, st := v.resolveGrpc(mod, p)
	if st != statusOK {
		return st
	}
	msg, ok := readBytes(mod, uint32(p[8]), uint32(p[9]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	if ms := int32(uint32(p[10])); ms > 0 {
		t.timeout = time.Duration(ms) * time.Millisecond
	}
	id := v.newCalloutID(calloutGrpcCall)
	if !writeU32(mod, uint32(p[11]), id) {
		return statusInvalidMemoryAccess
	}
	v.startGrpcCall(id, t, msg)
	return statusOK
}

// proxyGrpcStream opens a bidirectional stream; messages sent before it is
// established are queued, as Envoy buffers them.
func proxyGrpcStream(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	t, st := v.resolveGrpc(mod, p)
	if st != statusOK {
		return st
	}
	id := v.newCalloutID(calloutGrpcStream)
	if !writeU32(mod, uint32(p[8]), id) {
		return statusInvalidMemoryAccess
	}
	v.startGrpcStream(id, t)
	return statusOK
}

func proxyGrpcSend(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	id := uint32(p[0])
	if id&calloutTypeMask != calloutGrpcStream {
		return statusBadArgument
	}
	s, ok := v.callouts[id].(*grpcStream)
	if !ok {
		return statusNotFound
	}
	msg, okM := readBytes(mod, uint32(p[1]), uint32(p[2]))
	if !okM {
		return statusInvalidMemoryAccess
	}
	if s.localClosed {
		return statusOK
	}
	// i32 arguments may carry garbage in the upper half of the stack slot.
	end := uint32(p[3]) != 0
	s.sendq.push(msg, end)
	s.localClosed = end
	return statusOK
}

// proxyGrpcCancel ends a call or stream; no further callbacks arrive.
func proxyGrpcCancel(_ context.Context, v *vm, _ api.Module, p []uint64) status {
	id := uint32(p[0])
	c, ok := v.callouts[id]
	if !ok || id&calloutTypeMask == calloutHTTPCall {
		return statusNotFound
	}
	c.cancel()
	delete(v.callouts, id)
	return statusOK
}

// proxyGrpcClose cancels a call; on a stream it half-closes the sending
// side and the remaining callbacks still arrive.
func proxyGrpcClose(ctx context.Context, v *vm, mod api.Module, p []uint64) status {
	id := uint32(p[0])
	if id&calloutTypeMask != calloutGrpcStream {
		return proxyGrpcCancel(ctx, v, mod, p)
	}
	s, ok := v.callouts[id].(*grpcStream)
	if !ok {
		return statusNotFound
	}
	if !s.localClosed {
		s.localClosed = true
		s.sendq.push(nil, true)
	}
	if s.remoteClosed {
		s.cancel()
		delete(v.callouts, id)
	}
	return statusOK
}

// proxyGetStatus returns the status of the call being reported (code 0 and
// an empty message outside a completion).
func proxyGetStatus(ctx context.Context, v *vm, mod api.Module, p []uint64) status {
	st := calloutStatus{}
	if v.frame.status != nil {
		st = *v.frame.status
	}
	if !writeU32(mod, uint32(p[0]), st.code) {
		return statusInvalidMemoryAccess
	}
	return v.copyOut(ctx, mod, []byte(st.message), uint32(p[1]), uint32(p[2]))
}

// checkAuthority refuses an :authority with a character RFC 3986 does not
// allow in one, as the HTTP/2 codec of the peer (the collector's sidecar
// in a mesh) does: Istio's cluster names ("outbound|9090||host") are not
// valid authorities, and Envoy sends the cluster name when EnvoyGrpc has
// no authority.
func checkAuthority(a string) error {
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=:@[]%", c) >= 0 {
			continue
		}
		return grpcstatus.Errorf(codes.Internal, "stream reset by the peer: invalid :authority header %q (character %q)", a, c)
	}
	return nil
}
