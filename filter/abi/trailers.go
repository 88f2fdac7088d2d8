//go:build wasip1

package abi

import "github.com/shadowdiff/shadowdiff/filter/plugin"

// mapResponseTrailers is HTTP_RESPONSE_TRAILERS of proxy_map_type_t.
const mapResponseTrailers = 3

// responseTrailers is scratch space like responseHeaders.
var responseTrailers [][2]string

func (host) ResponseTrailers() ([]plugin.Header, error) {
	return getMap(mapResponseTrailers, &responseTrailers)
}

// proxy_on_response_trailers: without this export Envoy never calls the
// filter for trailers (gRPC's grpc-status, chunked trailers), so their
// hash and the response's end would go unseen.
//
//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(contextID, numTrailers uint32) uint32 {
	enter()
	defer leave()
	if s, ok := streams[contextID]; ok {
		return action(s.OnResponseTrailers())
	}
	return 0
}
