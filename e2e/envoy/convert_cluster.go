package envoy

import (
	"fmt"
	"net"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

const httpProtocolOptionsName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

func convertCluster(path string, c *clusterv3.Cluster) (*ClusterConfig, error) {
	if err := onlyFields(path, c, "name", "type", "connect_timeout", "lb_policy", "load_assignment",
		"typed_extension_protocol_options", "dns_refresh_rate", "dns_lookup_family"); err != nil {
		return nil, err
	}
	cc := &ClusterConfig{Name: c.GetName(), ConnectTimeout: defaultConnectTimeout,
		DNSRefreshRate: defaultDNSRefreshRate, DNSFamily: "ip"}
	switch c.GetType() {
	case clusterv3.Cluster_STATIC, clusterv3.Cluster_STRICT_DNS:
		cc.Type = c.GetType().String()
	default:
		return nil, pathErrorf(field(path, "type"), "cluster type %s is not supported (STATIC, STRICT_DNS)", c.GetType())
	}
	if c.GetLbPolicy() != clusterv3.Cluster_ROUND_ROBIN {
		return nil, pathErrorf(field(path, "lb_policy"), "%s is not supported (ROUND_ROBIN)", c.GetLbPolicy())
	}
	if d := c.GetConnectTimeout(); d != nil {
		cc.ConnectTimeout = d.AsDuration()
	}
	if d := c.GetDnsRefreshRate(); d != nil {
		cc.DNSRefreshRate = d.AsDuration()
	}
	switch c.GetDnsLookupFamily() {
	case clusterv3.Cluster_V4_ONLY:
		cc.DNSFamily = "ip4"
	case clusterv3.Cluster_V6_ONLY:
		cc.DNSFamily = "ip6"
	}
	var err error
	if cc.Endpoints, err = convertLoadAssignment(field(path, "load_assignment"), c.GetLoadAssignment(), cc.Type == "STATIC"); err != nil {
		return nil, err
	}
	for name, opts := range c.GetTypedExtensionProtocolOptions() {
		p := fmt.Sprintf("%s[%q]", field(path, "typed_extension_protocol_options"), name)
		if name != httpProtocolOptionsName {
			return nil, pathErrorf(p, "only %s is supported", httpProtocolOptionsName)
		}
		po, err := typedConfig[upstreamhttpv3.HttpProtocolOptions](p, opts)
		if err != nil {
			return nil, err
		}
		if cc.HTTP2, err = convertProtocolOptions(p, po); err != nil {
			return nil, err
		}
	}
	return cc, nil
}

// convertProtocolOptions returns whether the cluster speaks HTTP/2.
func convertProtocolOptions(path string, po *upstreamhttpv3.HttpProtocolOptions) (bool, error) {
	if err := onlyFields(path, po, "explicit_http_config"); err != nil {
		return false, err
	}
	ec := po.GetExplicitHttpConfig()
	if ec == nil {
		return false, pathErrorf(path, "explicit_http_config is required")
	}
	ep := field(path, "explicit_http_config")
	if err := onlyFields(ep, ec, "http_protocol_options", "http2_protocol_options"); err != nil {
		return false, err
	}
	if o := ec.GetHttp2ProtocolOptions(); o != nil {
		return true, onlyFields(field(ep, "http2_protocol_options"), o)
	}
	return false, onlyFields(field(ep, "http_protocol_options"), ec.GetHttpProtocolOptions())
}

func convertLoadAssignment(path string, la *endpointv3.ClusterLoadAssignment, static bool) ([]string, error) {
	if la == nil {
		return nil, pathErrorf(path, "required")
	}
	if err := onlyFields(path, la, "cluster_name", "endpoints"); err != nil {
		return nil, err
	}
	var out []string
	for i, lle := range la.GetEndpoints() {
		lp := index(field(path, "endpoints"), i)
		if err := onlyFields(lp, lle, "lb_endpoints"); err != nil {
			return nil, err
		}
		for j, le := range lle.GetLbEndpoints() {
			ep := index(field(lp, "lb_endpoints"), j)
			if err := onlyFields(ep, le, "endpoint"); err != nil {
				return nil, err
			}
			e := le.GetEndpoint()
			if e == nil {
				return nil, pathErrorf(ep, "endpoint is required")
			}
			if err := onlyFields(field(ep, "endpoint"), e, "address"); err != nil {
				return nil, err
			}
			addr, err := socketAddress(field(ep, "endpoint.address"), e.GetAddress())
			if err != nil {
				return nil, err
			}
			if static && !isIPHostPort(addr) {
				return nil, pathErrorf(field(ep, "endpoint.address.socket_address.address"),
					"a STATIC cluster needs IP addresses, got %q", addr)
			}
			out = append(out, addr)
		}
	}
	if len(out) == 0 {
		return nil, pathErrorf(field(path, "endpoints"), "at least one endpoint is required")
	}
	return out, nil
}

func isIPHostPort(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && net.ParseIP(host) != nil
}
