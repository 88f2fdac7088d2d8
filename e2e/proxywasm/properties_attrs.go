package proxywasm

import (
	"net"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// propContext is what attributes are computed from.
type propContext struct {
	v    *vm
	s    *stream // nil in the root context
	info *httpfilter.StreamInfo
}

// requestHeaders returns the stream's request headers (the map the filter
// was given, or the manager's).
func (pc *propContext) headers(t mapType) *httpfilter.Headers {
	if pc.s == nil {
		return nil
	}
	if h := pc.s.seen[t]; h != nil {
		return h
	}
	switch t {
	case mapRequestHeaders:
		return pc.s.cb.RequestHeaders()
	case mapResponseHeaders:
		return pc.s.cb.ResponseHeaders()
	case mapResponseTrailers:
		return pc.s.cb.ResponseTrailers()
	}
	return nil
}

func (pc *propContext) header(t mapType, name string) (any, bool) {
	h := pc.headers(t)
	if h == nil {
		return nil, false
	}
	return walkProperty(h, name)
}

// nonEmpty returns s as a found value unless it is empty.
func nonEmpty(s string) (any, bool) { return s, s != "" }

// hostPort splits "ip:port" into the port attribute.
func port(addr string) (any, bool) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, false
	}
	n, err := strconv.ParseInt(p, 10, 64)
	return n, err == nil
}

type attrGroup func(pc *propContext, field string) (any, bool)

// attributeGroup returns Envoy's two-segment attributes (request.path, ...).
func attributeGroup(name string) (attrGroup, bool) {
	switch name {
	case "request":
		return requestAttribute, true
	case "response":
		return responseAttribute, true
	case "source":
		return addressAttribute(func(i *httpfilter.StreamInfo) string { return i.DownstreamRemoteAddress }), true
	case "destination":
		return addressAttribute(func(i *httpfilter.StreamInfo) string { return i.DownstreamLocalAddress }), true
	case "upstream":
		return addressAttribute(func(i *httpfilter.StreamInfo) string { return i.UpstreamAddress }), true
	case "connection":
		return connectionAttribute, true
	case "xds":
		return xdsAttribute, true
	}
	return nil, false
}

// topLevelAttribute resolves single-segment attributes; ok is false for
// names that are not attributes.
func topLevelAttribute(pc *propContext, name string) (val any, found, ok bool) {
	switch name {
	case "plugin_name":
		return pc.v.p.cfg.Name, true, true
	case "plugin_root_id":
		return pc.v.p.cfg.RootID, true, true
	case "plugin_vm_id":
		return pc.v.p.cfg.VMID, true, true
	case "connection_id":
		if pc.info == nil {
			return nil, false, true
		}
		return pc.info.ConnectionID, true, true
	case "metadata":
		return &corev3.Metadata{}, pc.info != nil, true
	case "filter_state":
		if pc.info == nil {
			return nil, false, true
		}
		return pc.info.FilterState, true, true
	}
	return nil, false, false
}

func requestAttribute(pc *propContext, field string) (any, bool) {
	if pc.s == nil || pc.info == nil {
		return nil, false
	}
	path, _ := pc.header(mapRequestHeaders, ":path")
	pathStr, _ := path.(string)
	switch field {
	case "path":
		return path, path != nil
	case "url_path":
		p, _, _ := strings.Cut(pathStr, "?")
		return p, path != nil
	case "query":
		_, q, _ := strings.Cut(pathStr, "?")
		return q, path != nil
	case "host":
		return pc.header(mapRequestHeaders, ":authority")
	case "scheme":
		return pc.header(mapRequestHeaders, ":scheme")
	case "method":
		return pc.header(mapRequestHeaders, ":method")
	case "headers":
		h := pc.headers(mapRequestHeaders)
		return h, h != nil
	case "headers_bytes":
		return int64(headersByteSize(pc.headers(mapRequestHeaders))), pc.headers(mapRequestHeaders) != nil
	case "referer":
		return pc.header(mapRequestHeaders, "referer")
	case "useragent":
		return pc.header(mapRequestHeaders, "user-agent")
	case "id":
		return pc.header(mapRequestHeaders, "x-request-id")
	case "time":
		return pc.info.StartTime, !pc.info.StartTime.IsZero()
	case "protocol":
		return nonEmpty(pc.info.Protocol)
	case "duration":
		if !pc.s.logPhase || pc.info.StartTime.IsZero() {
			return nil, false
		}
		return time.Since(pc.info.StartTime), true
	case "size":
		if cl, ok := pc.header(mapRequestHeaders, "content-length"); ok {
			n, err := strconv.ParseInt(cl.(string), 10, 64)
			return n, err == nil
		}
		return pc.info.BytesReceived, true
	case "total_size":
		return pc.info.BytesReceived + int64(headersByteSize(pc.headers(mapRequestHeaders))), true
	}
	return nil, false
}

func responseAttribute(pc *propContext, field string) (any, bool) {
	if pc.s == nil || pc.info == nil {
		return nil, false
	}
	switch field {
	case "code":
		return int64(pc.info.ResponseCode), pc.info.ResponseCode != 0
	case "code_details":
		return nonEmpty(pc.info.ResponseCodeDetails)
	case "flags":
		return int64(0), true
	case "grpc_status":
		for _, t := range []mapType{mapResponseTrailers, mapResponseHeaders} {
			if gs, ok := pc.header(t, "grpc-status"); ok {
				n, err := strconv.ParseInt(gs.(string), 10, 64)
				return n, err == nil
			}
		}
		return nil, false
	case "headers":
		h := pc.headers(mapResponseHeaders)
		return h, h != nil
	case "headers_bytes":
		return int64(headersByteSize(pc.headers(mapResponseHeaders))), pc.headers(mapResponseHeaders) != nil
	case "trailers":
		h := pc.headers(mapResponseTrailers)
		return h, h != nil
	case "size":
		return pc.info.BytesSent, true
	case "total_size":
		return pc.info.BytesSent + int64(headersByteSize(pc.headers(mapResponseHeaders))), true
	case "backend_latency":
		if pc.info.FirstUpstreamByte.IsZero() {
			return nil, false
		}
		return pc.info.FirstUpstreamByte.Sub(pc.info.StartTime), true
	}
	return nil, false
}

func addressAttribute(addr func(*httpfilter.StreamInfo) string) attrGroup {
	return func(pc *propContext, field string) (any, bool) {
		if pc.info == nil {
			return nil, false
		}
		a := addr(pc.info)
		switch field {
		case "address":
			return nonEmpty(a)
		case "port":
			return port(a)
		}
		return nil, false
	}
}

func connectionAttribute(pc *propContext, field string) (any, bool) {
	if pc.info == nil {
		return nil, false
	}
	switch field {
	case "id":
		return pc.info.ConnectionID, true
	case "mtls":
		return false, true
	}
	return nil, false
}

func xdsAttribute(pc *propContext, field string) (any, bool) {
	if field == "node" {
		return pc.v.p.xdsNode, true
	}
	if pc.info == nil {
		return nil, false
	}
	switch field {
	case "cluster_name":
		return nonEmpty(pc.info.ClusterName)
	case "route_name":
		return nonEmpty(pc.info.RouteName)
	case "virtual_host_name":
		return nonEmpty(pc.info.VirtualHostName)
	case "cluster_metadata", "route_metadata", "listener_metadata", "virtual_host_metadata",
		"upstream_host_metadata", "upstream_host_locality_metadata":
		return &corev3.Metadata{}, true
	}
	return nil, false
}

// xdsNode is the xds.node message: a copy of node (empty when nil), which
// the plugin's VMs read and never change.
func xdsNode(node *corev3.Node) *corev3.Node {
	if node == nil {
		return &corev3.Node{}
	}
	return proto.CloneOf(node)
}
