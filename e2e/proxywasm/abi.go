package proxywasm

// status is proxy_status_t.
type status uint32

const (
	statusOK                   status = 0
	statusNotFound             status = 1
	statusBadArgument          status = 2
	statusSerializationFailure status = 3
	statusParseFailure         status = 4
	statusInvalidMemoryAccess  status = 6
	statusEmpty                status = 7
	statusCasMismatch          status = 8
	statusInternalFailure      status = 10
	statusBrokenConnection     status = 11
	statusUnimplemented        status = 12
)

// bufferType is proxy_buffer_type_t.
type bufferType uint32

const (
	bufferHTTPRequestBody      bufferType = 0
	bufferHTTPResponseBody     bufferType = 1
	bufferDownstreamData       bufferType = 2
	bufferUpstreamData         bufferType = 3
	bufferHTTPCallResponseBody bufferType = 4
	bufferGrpcCallMessage      bufferType = 5
	bufferVMConfiguration      bufferType = 6
	bufferPluginConfiguration  bufferType = 7
	bufferForeignFunctionArgs  bufferType = 8
)

// mapType is proxy_map_type_t.
type mapType uint32

const (
	mapRequestHeaders          mapType = 0
	mapRequestTrailers         mapType = 1
	mapResponseHeaders         mapType = 2
	mapResponseTrailers        mapType = 3
	mapGrpcInitialMetadata     mapType = 4
	mapGrpcTrailingMetadata    mapType = 5
	mapHTTPCallResponseHeaders mapType = 6
	mapHTTPCallResponseTrailer mapType = 7
)

// streamType is proxy_stream_type_t.
type streamType uint32

const (
	streamHTTPRequest  streamType = 0
	streamHTTPResponse streamType = 1
	streamDownstream   streamType = 2
	streamUpstream     streamType = 3
)

// Callout ids: the low two bits hold the callout type and ids step by 4, as
// in proxy-wasm-cpp-host.
const (
	calloutTypeMask   = 3
	calloutIncrement  = 4
	calloutHTTPCall   = 0
	calloutGrpcCall   = 1
	calloutGrpcStream = 2
)

// Envoy's raw filter statuses returned by the guest (proxy_wasm_enums.h) and
// the fixed strings Envoy uses.
const (
	headersContinue             = 0
	headersContinueAndEndStream = 2
	headersMaxKnownStatus       = 4
	dataContinue                = 0
	dataStopIterationAndBuffer  = 1
	dataStopIterationWatermark  = 2
	dataMaxKnownStatus          = 3
	trailersContinue            = 0

	maxGrpcStatus         = 16
	grpcStatusUnavailable = 14
	failStreamStatus      = 503
	failStreamDetails     = "wasm_fail_stream"
	closeStreamDetails    = "wasm_close_stream"
)

// Module names and markers.
const (
	abiVersion010          = "proxy_abi_version_0_1_0"
	abiVersion020          = "proxy_abi_version_0_2_0"
	abiVersion021          = "proxy_abi_version_0_2_1"
	hostModuleEnv          = "env"
	wasiModuleName         = "wasi_snapshot_preview1"
	wasiUnstableModuleName = "wasi_unstable"
	defaultWorkers         = 2
)

// Metric ids: the low two bits hold the type and ids step by 4 (CPPHOST).
const (
	metricTypeMask    = 3
	metricIDIncrement = 4
)
