package main

import "unsafe"

// Host functions of the Proxy-Wasm ABI, declared the way a plugin built
// with the standard Go compiler declares them.

//go:wasmimport env proxy_log
func proxy_log(level uint32, msg unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_get_log_level
func proxy_get_log_level(ret *uint32) uint32

//go:wasmimport env proxy_get_current_time_nanoseconds
func proxy_get_current_time_nanoseconds(ret *uint64) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxy_set_tick_period_milliseconds(period uint32) uint32

//go:wasmimport env proxy_set_effective_context
func proxy_set_effective_context(id uint32) uint32

//go:wasmimport env proxy_done
func proxy_done() uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxy_get_buffer_bytes(t, start, max uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func proxy_set_buffer_bytes(t, start, size uint32, data unsafe.Pointer, dataSize uint32) uint32

//go:wasmimport env proxy_get_buffer_status
func proxy_get_buffer_status(t uint32, retSize, retFlags *uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func proxy_get_header_map_value(t uint32, key unsafe.Pointer, keySize uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxy_get_header_map_pairs(t uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_set_header_map_pairs
func proxy_set_header_map_pairs(t uint32, data unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_add_header_map_value
func proxy_add_header_map_value(t uint32, key unsafe.Pointer, keySize uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func proxy_replace_header_map_value(t uint32, key unsafe.Pointer, keySize uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func proxy_remove_header_map_value(t uint32, key unsafe.Pointer, keySize uint32) uint32

//go:wasmimport env proxy_get_header_map_size
func proxy_get_header_map_size(t uint32, ret *uint32) uint32

//go:wasmimport env proxy_continue_stream
func proxy_continue_stream(t uint32) uint32

//go:wasmimport env proxy_close_stream
func proxy_close_stream(t uint32) uint32

//go:wasmimport env proxy_send_local_response
func proxy_send_local_response(code uint32, details unsafe.Pointer, detailsSize uint32, body unsafe.Pointer, bodySize uint32, hdrs unsafe.Pointer, hdrsSize uint32, grpcStatus int32) uint32

//go:wasmimport env proxy_http_call
func proxy_http_call(up unsafe.Pointer, upSize uint32, hdrs unsafe.Pointer, hdrsSize uint32, body unsafe.Pointer, bodySize uint32, trls unsafe.Pointer, trlsSize uint32, timeout uint32, ret *uint32) uint32

//go:wasmimport env proxy_grpc_call
func proxy_grpc_call(up unsafe.Pointer, upSize uint32, svc unsafe.Pointer, svcSize uint32, method unsafe.Pointer, methodSize uint32, md unsafe.Pointer, mdSize uint32, msg unsafe.Pointer, msgSize uint32, timeout uint32, ret *uint32) uint32

//go:wasmimport env proxy_grpc_stream
func proxy_grpc_stream(up unsafe.Pointer, upSize uint32, svc unsafe.Pointer, svcSize uint32, method unsafe.Pointer, methodSize uint32, md unsafe.Pointer, mdSize uint32, ret *uint32) uint32

//go:wasmimport env proxy_grpc_send
func proxy_grpc_send(id uint32, msg unsafe.Pointer, size uint32, end uint32) uint32

//go:wasmimport env proxy_grpc_cancel
func proxy_grpc_cancel(id uint32) uint32

//go:wasmimport env proxy_grpc_close
func proxy_grpc_close(id uint32) uint32

//go:wasmimport env proxy_get_status
func proxy_get_status(code *uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_set_shared_data
func proxy_set_shared_data(key unsafe.Pointer, keySize uint32, val unsafe.Pointer, valSize uint32, cas uint32) uint32

//go:wasmimport env proxy_get_shared_data
func proxy_get_shared_data(key unsafe.Pointer, keySize uint32, retPtr, retSize, cas *uint32) uint32

//go:wasmimport env proxy_register_shared_queue
func proxy_register_shared_queue(name unsafe.Pointer, size uint32, ret *uint32) uint32

//go:wasmimport env proxy_resolve_shared_queue
func proxy_resolve_shared_queue(vmID unsafe.Pointer, vmIDSize uint32, name unsafe.Pointer, size uint32, ret *uint32) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func proxy_enqueue_shared_queue(id uint32, val unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func proxy_dequeue_shared_queue(id uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_define_metric
func proxy_define_metric(t uint32, name unsafe.Pointer, size uint32, ret *uint32) uint32

//go:wasmimport env proxy_increment_metric
func proxy_increment_metric(id uint32, delta int64) uint32

//go:wasmimport env proxy_record_metric
func proxy_record_metric(id uint32, value uint64) uint32

//go:wasmimport env proxy_get_metric
func proxy_get_metric(id uint32, ret *uint64) uint32

//go:wasmimport env proxy_get_property
func proxy_get_property(path unsafe.Pointer, size uint32, retPtr, retSize *uint32) uint32

//go:wasmimport env proxy_set_property
func proxy_set_property(path unsafe.Pointer, size uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_call_foreign_function
func proxy_call_foreign_function(name unsafe.Pointer, nameSize uint32, args unsafe.Pointer, argsSize uint32, retPtr, retSize *uint32) uint32
