package main

import (
	"fmt"
	"strings"
)

var propertyPaths = [][]string{
	{"request", "path"}, {"request", "url_path"}, {"request", "query"}, {"request", "host"},
	{"request", "method"}, {"request", "scheme"}, {"request", "id"}, {"request", "protocol"},
	{"request", "headers", "x-multi"}, {"request", "time"}, {"request", "useragent"},
	{"request", "headers"}, {"request"}, {"request", "nope"}, {"nope"},
	{"source", "address"}, {"source", "port"}, {"destination", "address"}, {"destination", "port"},
	{"connection", "id"}, {"connection", "mtls"}, {"connection_id"}, {"upstream", "address"},
	{"xds", "route_name"}, {"xds", "cluster_name"}, {"xds", "virtual_host_name"},
	{"xds", "node", "metadata", "REGION"}, {"xds", "node", "metadata"}, {"xds", "node"},
	{"plugin_name"}, {"plugin_root_id"}, {"plugin_vm_id"},
	{"response", "code"}, {"response", "grpc_status"}, {"response", "code_details"},
}

func properties(prefix string) {
	for _, p := range propertyPaths {
		v, st := getProperty(p...)
		report(prefix+"."+strings.Join(p, "."), fmt.Sprintf("%d:%x", st, v))
	}
}

func metrics() {
	c, st := defineMetric(0, "conf.counter")
	report("metrics.define", st)
	report("metrics.inc", proxy_increment_metric(c, 3))
	report("metrics.inc_zero", proxy_increment_metric(c, 0))
	report("metrics.inc_neg", proxy_increment_metric(c, -1))
	report("metrics.record_counter", proxy_record_metric(c, 2))
	v, st := getMetric(c)
	report("metrics.counter", fmt.Sprintf("%d:%d", st, v))
	c2, _ := defineMetric(0, "conf.counter")
	v2, _ := getMetric(c2)
	report("metrics.redefine", fmt.Sprintf("%v:%v", c2 != c, v2 == v))
	g, _ := defineMetric(1, "conf.gauge")
	proxy_record_metric(g, 7)
	proxy_increment_metric(g, -2)
	v, _ = getMetric(g)
	report("metrics.gauge_after_dec", v)
	proxy_increment_metric(g, 4)
	h, _ := defineMetric(2, "conf.hist")
	report("metrics.hist_record", proxy_record_metric(h, 10))
	proxy_record_metric(h, 20)
	_, st = getMetric(h)
	report("metrics.hist_get", st)
	report("metrics.hist_inc", proxy_increment_metric(h, 1))
	_, st = defineMetric(3, "bad")
	report("metrics.bad_type", st)
	report("metrics.unknown", proxy_increment_metric(4000, 1))
	report("metrics.ids", fmt.Sprintf("%d:%d:%d:%d", c&3, g&3, h&3, c2-c))
}

func getShared(key string) (string, uint32, uint32) {
	var p, n, cas uint32
	k, kn := str(key)
	st := proxy_get_shared_data(k, kn, &p, &n, &cas)
	return string(take(p, n)), st, cas
}

func setShared(key, val string, cas uint32) uint32 {
	k, kn := str(key)
	v, vn := str(val)
	return proxy_set_shared_data(k, kn, v, vn, cas)
}

func sharedSet() {
	report("shared.set", setShared("k", "v1", 0))
	v, st, cas := getShared("k")
	report("shared.get", fmt.Sprintf("%d:%s:%v", st, v, cas != 0))
	report("shared.cas_mismatch", setShared("k", "v2", cas+100))
	report("shared.cas_ok", setShared("k", "v2", cas))
	v, _, cas2 := getShared("k")
	report("shared.after", fmt.Sprintf("%s:%v", v, cas2 != cas))
	_, st, _ = getShared("missing")
	report("shared.missing", st)
	setShared("e", "", 0)
	var p, n, c uint32
	k, kn := str("e")
	st = proxy_get_shared_data(k, kn, &p, &n, &c)
	report("shared.empty", fmt.Sprintf("%d:%d:%d", st, p, n))
}

func queue() {
	vmID, _ := getProperty("plugin_vm_id")
	var id uint32
	vp, vn := str(string(vmID))
	qp, qn := str("confq")
	st := proxy_resolve_shared_queue(vp, vn, qp, qn, &id)
	report("queue.resolve", fmt.Sprintf("%d:%v", st, id == queueID))
	np, nn := str("nope")
	report("queue.resolve_missing", proxy_resolve_shared_queue(vp, vn, np, nn, &id))
	op, on := str("other-vm")
	report("queue.resolve_other_vm", proxy_resolve_shared_queue(op, on, qp, qn, &id))
	var p, n uint32
	report("queue.empty", proxy_dequeue_shared_queue(queueID, &p, &n))
	ip, in := str("item-1")
	report("queue.enqueue", proxy_enqueue_shared_queue(queueID, ip, in))
	report("queue.enqueue_unknown", proxy_enqueue_shared_queue(999, ip, in))
}
