// Command conformance is a test-only Proxy-Wasm plugin: it calls the host
// functions of the ABI and reports what it got back as "R key=value" log
// lines (proxy_log), which the host's tests check against the reference.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {}

//go:wasmexport proxy_abi_version_0_2_1
func proxyABIVersion() {}

var (
	rootID     uint32
	cases      = map[uint32]string{}
	ticks      int
	tickID     uint32
	queueID    uint32
	pendingID  uint32
	rootStream uint32
	concID     uint32
	calls      = map[uint32]uint32{} // callout id -> stream context
	callDir    = map[uint32]uint32{} // callout id -> direction to resume
	cancelled  = map[uint32]bool{}
)

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(ctx, parent uint32) {
	if parent == 0 {
		rootID = ctx
	}
	report("create", fmt.Sprintf("%d/%d", ctx, parent))
}

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(root, size uint32) uint32 {
	cfg, st, _ := getBuffer(6, 0, size)
	report("vm_start.config", fmt.Sprintf("%d:%s", st, cfg))
	_, st, _ = getBuffer(7, 0, 100)
	report("vm_start.plugin_config_status", st)
	report("vm_start.env", os.Getenv("CONF_ENV"))
	fmt.Println("hello from fd 1")
	fmt.Fprintln(os.Stderr, "hello from fd 2")
	var lvl uint32
	st = proxy_get_log_level(&lvl)
	report("vm_start.log_level", fmt.Sprintf("%d:%d", st, lvl))
	var now uint64
	st = proxy_get_current_time_nanoseconds(&now)
	report("vm_start.time", fmt.Sprintf("%d:%v", st, now > 1_600_000_000_000_000_000))
	v, st := getProperty("plugin_name")
	report("vm_start.plugin_name", fmt.Sprintf("%d:%s", st, v))
	_, st = getProperty("request", "path")
	report("vm_start.request_path_status", st)
	switch string(cfg) {
	case "fail":
		return 0
	case "trap":
		panic("trap in proxy_on_vm_start")
	}
	return 1
}

//go:wasmexport proxy_on_configure
func proxyOnConfigure(root, size uint32) uint32 {
	cfg, st, _ := getBuffer(7, 0, size)
	report("configure.config", fmt.Sprintf("%d:%s", st, cfg))
	report("configure.set_immutable", setBuffer(7, 0, 0, "x"))
	for _, tok := range strings.Split(string(cfg), ";") {
		k, v, _ := strings.Cut(tok, "=")
		switch k {
		case "fail":
			return 0
		case "trap":
			panic("trap in proxy_on_configure")
		case "tick":
			n, _ := strconv.Atoi(v)
			tickID, _ = defineMetric(0, "conf.ticks")
			report("configure.tick", proxy_set_tick_period_milliseconds(uint32(n)))
		case "stream":
			id, st := grpcStream(grpcService(v), "Chat")
			rootStream = id
			report("configure.stream", fmt.Sprintf("%d:%d", st, id&3))
			report("configure.stream_send", grpcSend(id, "from-configure", 0))
		case "queue":
			p, l := str(v)
			report("configure.queue", proxy_register_shared_queue(p, l, &queueID))
		}
	}
	return 1
}

//go:wasmexport proxy_on_tick
func proxyOnTick(root uint32) {
	ticks++
	proxy_increment_metric(tickID, 1)
	if ticks == 3 {
		proxy_set_tick_period_milliseconds(0)
		report("tick.done", fmt.Sprintf("%d:%v", ticks, root == rootID))
	}
}

//go:wasmexport proxy_on_queue_ready
func proxyOnQueueReady(root, id uint32) {
	var p, n uint32
	st := proxy_dequeue_shared_queue(id, &p, &n)
	report("queue.ready", fmt.Sprintf("%d:%s:%v:%v", st, take(p, n), id == queueID, root == rootID))
}

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(ctx, n, eos uint32) uint32 {
	c, _, _ := getHeader(0, "x-case")
	cases[ctx] = c
	return requestHeaders(ctx, c, n, eos)
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(ctx, size, eos uint32) uint32 { return requestBody(ctx, cases[ctx], size, eos) }

//go:wasmexport proxy_on_request_trailers
func proxyOnRequestTrailers(ctx, n uint32) uint32 {
	v, st, _ := getHeader(1, "x-trailer")
	report("trailers.request", fmt.Sprintf("%d:%d:%s", n, st, v))
	return 0
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(ctx, n, eos uint32) uint32 {
	return responseHeaders(ctx, cases[ctx], n, eos)
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(ctx, size, eos uint32) uint32 {
	return responseBody(ctx, cases[ctx], size, eos)
}

//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(ctx, n uint32) uint32 {
	v, st, _ := getHeader(3, "grpc-status")
	report("trailers.response", fmt.Sprintf("%d:%d:%s", n, st, v))
	report("trailers.add", addHeader(3, "x-added-trailer", "1"))
	return 0
}

//go:wasmexport proxy_on_log
func proxyOnLog(ctx uint32) { onLog(ctx, cases[ctx]) }

//go:wasmexport proxy_on_done
func proxyOnDone(ctx uint32) uint32 {
	if cases[ctx] == "done-later" {
		pendingID = ctx
		report("done.pending", ctx)
		return 0
	}
	return 1
}

//go:wasmexport proxy_on_delete
func proxyOnDelete(ctx uint32) {
	report("deleted."+cases[ctx], ctx)
	delete(cases, ctx)
}
