//go:build wasip1

package abi

import "unsafe"

// Host functions of Proxy-Wasm ABI v0.2.1 (module "env"). Pointers are
// linear-memory addresses; sizes are u32; out-parameters receive u32
// addresses written by the host.

//go:wasmimport env proxy_log
func proxyLog(level uint32, msg unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(buffer, start, maxSize uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(mapType uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(mapType uint32, key unsafe.Pointer, keySize uint32, value unsafe.Pointer, valueSize uint32) uint32

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(status uint32, details unsafe.Pointer, detailsSize uint32, body unsafe.Pointer, bodySize uint32,
	headers unsafe.Pointer, headersSize uint32, grpcStatus int32) uint32

//go:wasmimport env proxy_get_property
func proxyGetProperty(path unsafe.Pointer, pathSize uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(metricType uint32, name unsafe.Pointer, nameSize uint32, retID *uint32) uint32

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, delta int64) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriodMilliseconds(period uint32) uint32

//go:wasmimport env proxy_grpc_stream
func proxyGrpcStream(upstream unsafe.Pointer, upstreamSize uint32, service unsafe.Pointer, serviceSize uint32,
	method unsafe.Pointer, methodSize uint32, metadata unsafe.Pointer, metadataSize uint32, retID *uint32) uint32

//go:wasmimport env proxy_grpc_send
func proxyGrpcSend(id uint32, msg unsafe.Pointer, msgSize uint32, endStream uint32) uint32

//go:wasmimport env proxy_grpc_close
func proxyGrpcClose(id uint32) uint32

//go:wasmimport env proxy_grpc_cancel
func proxyGrpcCancel(id uint32) uint32

//go:wasmimport env proxy_get_status
func proxyGetStatus(retCode *uint32, retPtr, retSize *uint32) uint32
