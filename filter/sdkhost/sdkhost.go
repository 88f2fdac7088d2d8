// Package sdkhost runs the shadowdiff plugin on the tetratelabs
// proxy-wasm-go-sdk: natively under its proxytest emulator (unit tests), so
// the plugin logic is checked against a host its authors wrote. The SDK
// declares no gRPC host calls, so the collector stream goes through Streams.
package sdkhost

import (
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/shadowdiff/shadowdiff/filter/plugin"
)

// Streams carries the collector stream the SDK cannot.
type Streams interface {
	Open(cluster, authority, service, method string, metadata []plugin.Header) (uint32, error)
	Send(id uint32, msg []byte) error
	// Close ends a stream the remote side closed (proxy_grpc_close);
	// Cancel resets a stream the plugin abandons (proxy_grpc_cancel).
	Close(id uint32) error
	Cancel(id uint32) error
}

// VM is the SDK's VM context for the plugin.
type VM struct {
	types.DefaultVMContext
	streams Streams
	now     func() time.Time
	// Roots holds the plugin instances by context id, so a test can deliver
	// collector replies (Root.OnStreamMessage).
	Roots map[uint32]*plugin.Root
}

// NewVM returns a VM context; now may be nil (time.Now).
func NewVM(streams Streams, now func() time.Time) *VM {
	return &VM{streams: streams, now: now, Roots: map[uint32]*plugin.Root{}}
}

// NewPluginContext implements types.VMContext.
func (vm *VM) NewPluginContext(contextID uint32) types.PluginContext {
	r := plugin.NewRoot(host{streams: vm.streams}, vm.now)
	vm.Roots[contextID] = r
	return &pluginContext{root: r}
}

type pluginContext struct {
	types.DefaultPluginContext
	root *plugin.Root
}

func (p *pluginContext) OnPluginStart(size int) types.OnPluginStartStatus {
	var data []byte
	if size > 0 {
		var err error
		if data, err = proxywasm.GetPluginConfiguration(); err != nil {
			proxywasm.LogCriticalf("shadowdiff: read plugin configuration: %v", err)
			return types.OnPluginStartStatusFailed
		}
	}
	if err := p.root.OnConfigure(data); err != nil {
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) OnTick() { p.root.OnTick() }

func (p *pluginContext) OnPluginDone() bool {
	p.root.OnDone()
	return true
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{stream: p.root.NewStream()}
}

type httpContext struct {
	types.DefaultHttpContext
	stream *plugin.Stream
}

func (h *httpContext) OnHttpRequestHeaders(_ int, eos bool) types.Action {
	return types.Action(h.stream.OnRequestHeaders(eos))
}

func (h *httpContext) OnHttpRequestBody(size int, eos bool) types.Action {
	return types.Action(h.stream.OnRequestBody(size, eos))
}

func (h *httpContext) OnHttpResponseHeaders(_ int, eos bool) types.Action {
	return types.Action(h.stream.OnResponseHeaders(eos))
}

func (h *httpContext) OnHttpResponseBody(size int, eos bool) types.Action {
	return types.Action(h.stream.OnResponseBody(size, eos))
}

func (h *httpContext) OnHttpResponseTrailers(int) types.Action {
	return types.Action(h.stream.OnResponseTrailers())
}

// OnHttpStreamDone is the stream's last callback: the SDK deletes the
// context after it, so the stream goes back to its root for reuse.
func (h *httpContext) OnHttpStreamDone() {
	h.stream.OnDone()
	h.stream.Release()
	h.stream = nil
}

// host implements plugin.Host with the SDK's host calls.
type host struct{ streams Streams }

func (host) Log(level plugin.LogLevel, msg string) {
	switch level {
	case plugin.LogTrace:
		proxywasm.LogTrace(msg)
	case plugin.LogDebug:
		proxywasm.LogDebug(msg)
	case plugin.LogInfo:
		proxywasm.LogInfo(msg)
	case plugin.LogWarn:
		proxywasm.LogWarn(msg)
	case plugin.LogError:
		proxywasm.LogError(msg)
	default:
		proxywasm.LogCritical(msg)
	}
}

func (host) RequestHeaders() ([]plugin.Header, error)  { return proxywasm.GetHttpRequestHeaders() }
func (host) ResponseHeaders() ([]plugin.Header, error) { return proxywasm.GetHttpResponseHeaders() }
func (host) ResponseTrailers() ([]plugin.Header, error) {
	return proxywasm.GetHttpResponseTrailers()
}
func (host) ReplaceRequestHeader(name, value string) error {
	return proxywasm.ReplaceHttpRequestHeader(name, value)
}
func (host) RequestBody(size int) ([]byte, error)  { return proxywasm.GetHttpRequestBody(0, size) }
func (host) ResponseBody(size int) ([]byte, error) { return proxywasm.GetHttpResponseBody(0, size) }

func (host) SendLocalResponse(status int, body []byte, headers []plugin.Header, _ string) error {
	return proxywasm.SendHttpResponse(uint32(status), headers, body, -1)
}

func (host) Property(path ...string) ([]byte, bool) {
	v, err := proxywasm.GetProperty(path)
	return v, err == nil
}

type counter struct{ m proxywasm.MetricCounter }

func (c counter) Add(n uint64) { c.m.Increment(n) }

func (host) DefineCounter(name string) (plugin.Counter, error) {
	return counter{proxywasm.DefineCounterMetric(name)}, nil
}

func (host) SetTickPeriod(d time.Duration) error {
	return proxywasm.SetTickPeriodMilliSeconds(uint32(d.Milliseconds()))
}

func (h host) OpenStream(cluster, authority, service, method string, md []plugin.Header) (uint32, error) {
	return h.streams.Open(cluster, authority, service, method, md)
}
func (h host) SendOnStream(id uint32, msg []byte) error { return h.streams.Send(id, msg) }
func (h host) CloseStream(id uint32) error              { return h.streams.Close(id) }
func (h host) CancelStream(id uint32) error             { return h.streams.Cancel(id) }
