package main

import "fmt"

func httpCall(cluster string, hdrs []pair, body string, timeout uint32) (uint32, uint32) {
	up, un := str(cluster)
	h := serialize(hdrs)
	b := []byte(body)
	t := serialize([]pair{{"x-trailer", "t1"}})
	var id uint32
	st := proxy_http_call(up, un, ptr(h), uint32(len(h)), ptr(b), uint32(len(b)), ptr(t), uint32(len(t)), timeout, &id)
	return id, st
}

func callHeaders(path string) []pair {
	return []pair{{":method", "POST"}, {":path", path}, {":authority", "upstream.test"}, {"x-from", "wasm"}}
}

// asyncContinue pauses the stream in direction dir (0 request, 1
// response) until an http call answers.
func asyncContinue(ctx, dir uint32, cluster string) uint32 {
	id, st := httpCall(cluster, callHeaders("/call?x=1"), "ping", 5000)
	report("call.start", fmt.Sprintf("%d:%d", st, id&3))
	calls[id] = ctx
	callDir[id] = dir
	return 1
}

func httpCallErrors() {
	cluster, _, _ := getHeader(0, "x-cluster")
	_, st := httpCall("nope-cluster", callHeaders("/"), "", 1000)
	report("callerr.unknown_cluster", st)
	_, st = httpCall(cluster, []pair{{":method", "GET"}, {":authority", "a"}}, "", 1000)
	report("callerr.no_path", st)
	_, st = httpCall(cluster, callHeaders("/"), "", 0xFFFFFFFF)
	report("callerr.negative_timeout", st)
	id, st := httpCall("down", callHeaders("/"), "", 5000)
	report("callerr.down_start", st)
	calls[id] = 0
}

//go:wasmexport proxy_on_http_call_response
func proxyOnHTTPCallResponse(root, id, nh, bs, nt uint32) {
	report("call.counts", fmt.Sprintf("%v:%d:%d:%d", root == rootID, nh, bs, nt))
	status, _, _ := getHeader(6, ":status")
	report("call.status", status)
	v, _, _ := getHeader(6, "x-upstream")
	report("call.header", v)
	b, _, _ := getBuffer(4, 0, bs)
	report("call.body", string(b))
	ps, st := getPairs(7)
	report("call.trailers", fmt.Sprintf("%d:%s", st, pairsString(ps)))
	code, msg, st := getStatus()
	report("call.get_status", fmt.Sprintf("%d:%d:%s", st, code, msg))
	_, st, _ = getHeader(0, ":path")
	report("call.req_map_in_root", st)
	ctx, dir := calls[id], callDir[id]
	delete(calls, id)
	delete(callDir, id)
	if ctx != 0 {
		report("call.effective", proxy_set_effective_context(ctx))
		// dir is also the header map of that direction: 0 request, 2 response.
		report("call.add_req_header", addHeader(dir*2, "x-call-status", status))
		report("call.continue", proxy_continue_stream(dir))
	}
}

// grpcService is a serialized envoy.config.core.v3.GrpcService with
// envoy_grpc { cluster_name }.
func grpcService(cluster string) []byte {
	inner := append([]byte{0x0a, byte(len(cluster))}, cluster...)
	return append([]byte{0x0a, byte(len(inner))}, inner...)
}

func grpcStream(up []byte, method string) (uint32, uint32) {
	s, sn := str("test.Echo")
	m, mn := str(method)
	md := serialize([]pair{{"x-md", "v1"}})
	var id uint32
	st := proxy_grpc_stream(ptr(up), uint32(len(up)), s, sn, m, mn, ptr(md), uint32(len(md)), &id)
	return id, st
}

func grpcSend(id uint32, msg string, end uint32) uint32 {
	p, n := str(msg)
	return proxy_grpc_send(id, p, n, end)
}

var hangID uint32

func grpcCase(ctx uint32, c string) {
	cluster, _, _ := getHeader(0, "x-cluster")
	up := grpcService(cluster)
	switch c {
	case "grpc-stream":
		id, st := grpcStream(up, "Chat")
		report("grpc.stream_start", fmt.Sprintf("%d:%d", st, id&3))
		report("grpc.send1", grpcSend(id, "m1", 0))
		report("grpc.send2", grpcSend(id, "m2", 0))
		report("grpc.close_local", proxy_grpc_close(id))
		report("grpc.send_after_local_close", grpcSend(id, "m3", 0))
	case "grpc-stream-to":
		method, _, _ := getHeader(0, "x-method")
		_, st := grpcStream(up, method)
		report("grpc.stream_to", st)
	case "grpc-call":
		method, _, _ := getHeader(0, "x-method")
		s, sn := str("test.Echo")
		m, mn := str(method)
		md := serialize([]pair{{"x-md", "v1"}})
		msg := []byte("hello")
		var id uint32
		st := proxy_grpc_call(ptr(up), uint32(len(up)), s, sn, m, mn, ptr(md), uint32(len(md)), ptr(msg), uint32(len(msg)), 5000, &id)
		report("grpc.call_start", fmt.Sprintf("%d:%d", st, id&3))
	case "grpc-cancel":
		id, st := grpcStream(up, "Hang")
		report("grpc.hang_start", st)
		hangID = id
	case "grpc-cancel-now":
		report("grpc.cancel", proxy_grpc_cancel(hangID))
		report("grpc.cancel_again", proxy_grpc_cancel(hangID))
		cancelled[hangID] = true
	case "grpc-errors":
		_, st := grpcStream([]byte("nope-cluster"), "Chat")
		report("grpc.unknown_bare", st)
		id, st := grpcStream([]byte(cluster), "Chat")
		report("grpc.known_bare", fmt.Sprintf("%d:%d", st, id&3))
		proxy_grpc_cancel(id)
		_, st = grpcStream([]byte{0x1a, 0x02, 0x08, 0x01}, "Chat")
		report("grpc.no_envoy_grpc", st)
		report("grpc.send_unknown", grpcSend(4002, "x", 0))
		report("grpc.send_call_id", grpcSend(5, "x", 0))
		report("grpc.cancel_unknown", proxy_grpc_cancel(4002))
		report("grpc.close_unknown", proxy_grpc_close(4002))
		code, msg, st := getStatus()
		report("grpc.status_outside", fmt.Sprintf("%d:%d:%q", st, code, msg))
	}
}

func checkCancelled(id uint32, what string) {
	if cancelled[id] {
		report("grpc.cancelled_callback", what)
	}
}

//go:wasmexport proxy_on_grpc_receive_initial_metadata
func proxyOnGrpcReceiveInitialMetadata(root, id, n uint32) {
	checkCancelled(id, "initial")
	ps, st := getPairs(4)
	report("grpc.initial", fmt.Sprintf("%d:%d:%s", n, st, pairsString(ps)))
}

//go:wasmexport proxy_on_grpc_receive
func proxyOnGrpcReceive(root, id, size uint32) {
	checkCancelled(id, "receive")
	b, st, _ := getBuffer(5, 0, size)
	report("grpc.msg", fmt.Sprintf("%d:%d:%s", id&3, st, b))
	_, st = getPairs(4)
	report("grpc.initial_in_receive", st)
}

//go:wasmexport proxy_on_grpc_receive_trailing_metadata
func proxyOnGrpcReceiveTrailingMetadata(root, id, n uint32) {
	checkCancelled(id, "trailing")
	ps, st := getPairs(5)
	report("grpc.trailing", fmt.Sprintf("%d:%d:%s", n, st, pairsString(ps)))
}

//go:wasmexport proxy_on_grpc_close
func proxyOnGrpcClose(root, id, code uint32) {
	checkCancelled(id, "close")
	c, msg, st := getStatus()
	report("grpc.close", fmt.Sprintf("%d:%d:%d:%d:%s:%v", id&3, code, st, c, msg, root == rootID))
	report("grpc.send_after_close", grpcSend(id, "late", 0))
}
