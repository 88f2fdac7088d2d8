package main

import (
	"bytes"
	"fmt"
	"strings"
	"unsafe"
)

func requestHeaders(ctx uint32, c string, n, eos uint32) uint32 {
	switch c {
	case "headers":
		return mapCase(n, eos)
	case "set-pairs":
		b := serialize([]pair{{":path", "/new"}, {"X-A", "1"}})
		report("setpairs.status", proxy_set_header_map_pairs(0, ptr(b), uint32(len(b))))
		report("setpairs.bad", proxy_set_header_map_pairs(0, ptr([]byte{9, 0, 0, 0, 1}), 5))
		return 0
	case "pause-headers":
		return 1
	case "stop-iteration-values":
		v, _, _ := getHeader(0, "x-return")
		var r uint32
		fmt.Sscan(v, &r)
		return r
	case "local-reply":
		return localReply(7)
	case "grpc-local-reply":
		return localReply(7)
	case "close-stream":
		report("close.status", proxy_close_stream(0))
		report("close.upstream", proxy_continue_stream(3))
		report("close.bad", proxy_continue_stream(9))
		report("close.downstream", proxy_continue_stream(2))
		return 0
	case "async-continue":
		cluster, _, _ := getHeader(0, "x-cluster")
		return asyncContinue(ctx, 0, cluster)
	case "async-continue-response":
		cluster, _, _ := getHeader(0, "x-cluster")
		responseCluster[ctx] = cluster
		return 0
	case "pause-and-continue":
		report("pausecont.continue", proxy_continue_stream(0))
		return 1
	case "http-call-errors":
		httpCallErrors()
		return 0
	case "properties":
		properties("prop")
		report("prop.set", setProperty("my_prop", "hello"))
		v, st := getProperty("my_prop")
		report("prop.my_prop", fmt.Sprintf("%d:%s", st, v))
		return 0
	case "metrics":
		metrics()
		return 0
	case "shared-set":
		sharedSet()
		return 0
	case "shared-get":
		v, st, _ := getShared("k")
		report("shared.other_vm", fmt.Sprintf("%d:%s", st, v))
		return 0
	case "queue":
		queue()
		return 0
	case "grpc-stream", "grpc-stream-to", "grpc-call", "grpc-cancel", "grpc-cancel-now", "grpc-errors":
		grpcCase(ctx, c)
		return 0
	case "trap":
		panic("trap in proxy_on_request_headers")
	case "finish-done":
		report("done.not_pending", proxy_done())
		report("done.bad_context", proxy_set_effective_context(99999))
		report("done.switch", proxy_set_effective_context(pendingID))
		report("done.done", proxy_done())
		return 0
	case "foreign":
		foreign()
		return 0
	case "log-levels":
		for lvl := uint32(0); lvl <= 5; lvl++ {
			logf(lvl, "level-%d", lvl)
		}
		return 0
	case "root-stream-send":
		report("rootstream.send", grpcSend(rootStream, "from-request", 0))
		return 0
	case "root-stream-close":
		report("rootstream.close", proxy_grpc_close(rootStream))
		return 0
	case "concurrent":
		if concID == 0 {
			concID, _ = defineMetric(0, "conc.requests")
		}
		v, _, _ := getHeader(0, "x-request-id")
		addHeader(0, "x-seen", v)
		proxy_increment_metric(concID, 1)
		return 0
	case "invalid-memory":
		report("mem.log", proxy_log(2, unsafe.Pointer(uintptr(0xFFFFFFF0)), 100))
		report("mem.level", proxy_log(9, nil, 0))
		return 0
	}
	return 0
}

func localReply(grpcStatus int32) uint32 {
	d, dn := str("denied by wasm")
	b, bn := str("nope")
	h := serialize([]pair{{"x-lr", "1"}})
	report("local.status", proxy_send_local_response(403, d, dn, b, bn, ptr(h), uint32(len(h)), grpcStatus))
	return 0
}

func mapCase(n, eos uint32) uint32 {
	report("headers.n", fmt.Sprintf("%d:%d", n, eos))
	v, st, _ := getHeader(0, ":path")
	report("headers.path", fmt.Sprintf("%d:%s", st, v))
	v, _, _ = getHeader(0, "X-Multi")
	report("headers.multi", v)
	_, st, _ = getHeader(0, "x-missing")
	report("headers.missing", st)
	v, st, p := getHeader(0, "x-empty")
	report("headers.empty", fmt.Sprintf("%d:%d:%q", st, p, v))
	ps, st := getPairs(0)
	report("headers.pairs", fmt.Sprintf("%d:%s", st, pairsString(ps)))
	report("headers.add", addHeader(0, "X-Added", "yes"))
	report("headers.replace", replaceHeader(0, "x-replace", "new"))
	report("headers.replace_absent", replaceHeader(0, "x-replace-absent", "set"))
	report("headers.remove", removeHeader(0, "x-remove"))
	report("headers.remove_absent", removeHeader(0, "x-nothing"))
	var size uint32
	st = proxy_get_header_map_size(0, &size)
	report("headers.size", fmt.Sprintf("%d:%d", st, size))
	_, st, _ = getHeader(2, ":status")
	report("headers.resp_in_req", st)
	_, st, _ = getHeader(99, "x")
	report("headers.bad_type", st)
	_, st = getPairs(1)
	report("headers.trailers_in_req", st)
	_, st, _ = getHeader(6, "x")
	report("headers.callmap_in_req", st)
	return 0
}

func requestBody(ctx uint32, c string, size, eos uint32) uint32 {
	switch c {
	case "headers":
		_, st, _ := getHeader(0, ":path")
		report("headers.in_body", st)
	case "pause-headers":
		v, st, _ := getHeader(0, ":path")
		report("pause.body_path", fmt.Sprintf("%d:%s", st, v))
	case "body-buffer":
		report("body.size", fmt.Sprintf("%d:%d", size, eos))
		if eos == 0 {
			return 1
		}
		bodyChecks(size)
	case "body-continue":
		b, _, _ := getBuffer(0, 0, size)
		report("cont.chunk", fmt.Sprintf("%d:%d:%s", size, eos, b))
	case "body-nobuffer":
		return 3
	}
	return 0
}

func bodyChecks(size uint32) {
	b, st, _ := getBuffer(0, 0, size)
	report("body.all", fmt.Sprintf("%d:%s", st, b))
	b, _, _ = getBuffer(0, 2, 3)
	report("body.part", string(b))
	b, _, _ = getBuffer(0, size-2, 100)
	report("body.clipped", string(b))
	b, st, p := getBuffer(0, size+5, 10)
	report("body.past_end", fmt.Sprintf("%d:%d:%d", st, p, len(b)))
	var bs, flags uint32
	st = proxy_get_buffer_status(0, &bs, &flags)
	report("body.status", fmt.Sprintf("%d:%d:%d", st, bs, flags))
	report("body.set_middle", setBuffer(0, 1, 1, "x"))
	report("body.set_prefix", setBuffer(0, 0, 0, "<"))
	report("body.set_append", setBuffer(0, size+1, 0, ">"))
	b, _, _ = getBuffer(0, 0, 1000)
	report("body.after", string(b))
	_, st, _ = getBuffer(1, 0, 10)
	report("body.resp_in_req", st)
	_, st, _ = getBuffer(42, 0, 10)
	report("body.bad_type", st)
	_, st, _ = getBuffer(4, 0, 10)
	report("body.callbody_in_req", st)
	report("body.set_vmconfig", setBuffer(6, 0, 0, "x"))
}

func responseHeaders(ctx uint32, c string, n, eos uint32) uint32 {
	switch c {
	case "headers":
		_, st, _ := getHeader(0, ":path")
		report("headers.req_in_resp", st)
		v, _, _ := getHeader(2, ":status")
		report("headers.status", v)
	case "local-reply", "grpc-local-reply":
		v, _, _ := getHeader(2, ":status")
		report("local.response_status", v)
	case "async-continue-response":
		return asyncContinue(ctx, 1, responseCluster[ctx])
	}
	return 0
}

var responseCluster = map[uint32]string{}

func responseBody(ctx uint32, c string, size, eos uint32) uint32 {
	switch c {
	case "body-replace":
		if eos == 0 {
			return 1
		}
		report("replace.status", setBuffer(1, 0, size, "REPLACED"))
	}
	return 0
}

func onLog(ctx uint32, c string) {
	report("log."+c, ctx)
	switch c {
	case "headers":
		v, st, _ := getHeader(0, ":path")
		report("headers.log_path", fmt.Sprintf("%d:%s", st, v))
		report("headers.log_add", addHeader(0, "a", "b"))
		_, st, _ = getHeader(1, "x")
		report("headers.log_req_trailers", st)
		v, _, _ = getHeader(2, ":status")
		report("headers.log_status", v)
	case "properties":
		properties("logprop")
	}
}

func foreign() {
	in := []byte(strings.Repeat("hello ", 20))
	var p, n uint32
	name, nl := str("compress")
	st := proxy_call_foreign_function(name, nl, ptr(in), uint32(len(in)), &p, &n)
	z := take(p, n)
	name, nl = str("uncompress")
	st2 := proxy_call_foreign_function(name, nl, ptr(z), uint32(len(z)), &p, &n)
	out := take(p, n)
	report("foreign.roundtrip", fmt.Sprintf("%d:%d:%v:%v", st, st2, len(z) < len(in), bytes.Equal(in, out)))
	name, nl = str("no_such_function")
	report("foreign.unknown", proxy_call_foreign_function(name, nl, nil, 0, &p, &n))
}
