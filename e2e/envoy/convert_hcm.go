package envoy

import (
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// typedConfig unpacks an Any into want, or names the unsupported type.
func typedConfig[T any, P interface {
	*T
	proto.Message
}](path string, a *anypb.Any) (P, error) {
	if a == nil {
		return nil, pathErrorf(path, "typed_config is required")
	}
	var msg P = new(T)
	if !a.MessageIs(msg) {
		return nil, pathErrorf(field(path, "typed_config"), "type %s is not supported here (want %s)",
			a.GetTypeUrl(), msg.ProtoReflect().Descriptor().FullName())
	}
	if err := a.UnmarshalTo(msg); err != nil {
		return nil, pathErrorf(field(path, "typed_config"), "%w", err)
	}
	return msg, nil
}

func convertHCM(path string, f *listenerv3.Filter, clusters map[string]bool) (*HCM, error) {
	if err := onlyFields(path, f, "name", "typed_config"); err != nil {
		return nil, err
	}
	m, err := typedConfig[hcmv3.HttpConnectionManager](path, f.GetTypedConfig())
	if err != nil {
		return nil, err
	}
	tc := field(path, "typed_config")
	if err := onlyFields(tc, m, "stat_prefix", "codec_type", "route_config", "http_filters",
		"access_log", "generate_request_id"); err != nil {
		return nil, err
	}
	h := &HCM{StatPrefix: m.GetStatPrefix(), GenerateRequestID: true}
	if g := m.GetGenerateRequestId(); g != nil {
		h.GenerateRequestID = g.GetValue()
	}
	switch m.GetCodecType() {
	case hcmv3.HttpConnectionManager_AUTO:
		h.Codec = CodecAuto
	case hcmv3.HttpConnectionManager_HTTP1:
		h.Codec = CodecHTTP1
	case hcmv3.HttpConnectionManager_HTTP2:
		h.Codec = CodecHTTP2
	default:
		return nil, pathErrorf(field(tc, "codec_type"), "%s is not supported", m.GetCodecType())
	}
	for i, al := range m.GetAccessLog() {
		if err := convertAccessLog(index(field(tc, "access_log"), i), al); err != nil {
			return nil, err
		}
		h.AccessLog = true
	}
	if m.GetRouteConfig() == nil {
		return nil, pathErrorf(tc, "only an inline route_config is supported")
	}
	if h.Routes, err = convertRouteConfig(field(tc, "route_config"), m.GetRouteConfig(), clusters); err != nil {
		return nil, err
	}
	filters := m.GetHttpFilters()
	fp := field(tc, "http_filters")
	if len(filters) == 0 {
		return nil, pathErrorf(fp, "the router filter is required (last)")
	}
	for i, hf := range filters {
		p := index(fp, i)
		if err := onlyFields(p, hf, "name", "typed_config"); err != nil {
			return nil, err
		}
		last := i == len(filters)-1
		if last {
			r, err := typedConfig[routerv3.Router](p, hf.GetTypedConfig())
			if err != nil {
				return nil, pathErrorf(p, "the last HTTP filter must be the router: %w", err)
			}
			if err := onlyFields(field(p, "typed_config"), r); err != nil {
				return nil, err
			}
			continue
		}
		if hf.GetTypedConfig().MessageIs(&routerv3.Router{}) {
			return nil, pathErrorf(p, "the router must be the last HTTP filter")
		}
		w, err := typedConfig[wasmfilterv3.Wasm](p, hf.GetTypedConfig())
		if err != nil {
			return nil, err
		}
		wc, err := convertWasm(p, w)
		if err != nil {
			return nil, err
		}
		h.Filters = append(h.Filters, &FilterConfig{Name: hf.GetName(), Path: p, Wasm: wc})
	}
	return h, nil
}

func convertAccessLog(path string, al *accesslogv3.AccessLog) error {
	if err := onlyFields(path, al, "name", "typed_config"); err != nil {
		return err
	}
	s, err := typedConfig[streamv3.StdoutAccessLog](path, al.GetTypedConfig())
	if err != nil {
		return err
	}
	return onlyFields(field(path, "typed_config"), s)
}
