package proxywasm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// errVMFailed is returned for calls into a VM that has already failed.
var errVMFailed = errors.New("proxywasm: VM has failed")

// guestFuncs are the module's exports the host calls; nil when not exported.
type guestFuncs struct {
	alloc                                                 api.Function
	onContextCreate, onDone, onLog, onDelete              api.Function
	onVMStart, onConfigure, onTick, onQueueReady          api.Function
	onRequestHeaders, onRequestBody, onRequestTrailers    api.Function
	onResponseHeaders, onResponseBody, onResponseTrailers api.Function
	onHTTPCallResponse, onForeignFunction                 api.Function
	onGrpcInitialMetadata, onGrpcReceive, onGrpcTrailing  api.Function
	onGrpcClose                                           api.Function
}

// frame is the state of one guest callback: what the host functions called
// during it may see. It lives while the VM lock is held.
type frame struct {
	ctxID uint32
	// stream is the stream of the effective context (nil for the root
	// context); proxy_set_effective_context changes it.
	stream       *stream
	pluginConfig *[]byte // PLUGIN_CONFIGURATION, in on_configure only
	callBody     *[]byte // HTTP_CALL_RESPONSE_BODY
	grpcMessage  *[]byte // GRPC_CALL_MESSAGE
	foreignArgs  *[]byte // FOREIGN_FUNCTION_ARGUMENTS

	callHeaders, callTrailers *httpfilter.Headers // maps 6 and 7
	grpcInitial, grpcTrailing *httpfilter.Headers // maps 4 and 5
	status                    *calloutStatus      // for proxy_get_status

	// touched lists streams that got deferred actions during the call.
	touched []*stream
}

// touch records that s has deferred actions to apply after the call.
func (fr *frame) touch(s *stream) {
	for _, t := range fr.touched {
		if t == s {
			return
		}
	}
	fr.touched = append(fr.touched, s)
}

// calloutStatus is what proxy_get_status returns.
type calloutStatus struct {
	code    uint32
	message string
}

// vm is one instance of a plugin's module: Envoy's per-worker VM. All guest
// calls are serialised by mu.
type vm struct {
	p      *Plugin
	index  int
	logger *slog.Logger
	ctx    context.Context // carries the *vm to the host functions
	mod    api.Module
	fns    guestFuncs
	exec   *executor

	// calloutCtx is cancelled when the VM closes, ending its callouts.
	calloutCtx     context.Context
	cancelCallouts context.CancelFunc

	failed atomic.Bool

	mu      sync.Mutex // serialises every guest call
	stack   [16]uint64
	frame   *frame
	scratch frame // reused by newFrame: calls never overlap
	closed  bool

	rootID    uint32
	nextCtxID uint32
	streams   map[uint32]*stream

	callouts  map[uint32]callout
	nextCall  [3]uint32 // next callout id per callout type
	metrics   map[uint32]*metric
	nextMetID [3]uint32 // next metric id per metric type
	timer     *tickTimer
	// guest names the running export for RuntimeOptions.HostCallObserver.
	guest string
	// restriction limits the host calls while _initialize or the allocator
	// runs; nil otherwise.
	restriction *restriction
}

// observe reports a host call to RuntimeOptions.HostCallObserver.
func (v *vm) observe(host string) {
	if observe := v.p.r.opts.HostCallObserver; observe != nil {
		observe(v.guest, host)
	}
}

// call invokes fn with args under frame fr. v.mu must be held. A trap marks
// the VM failed.
func (v *vm) call(fr *frame, fn api.Function, args ...uint64) (uint64, error) {
	if v.failed.Load() || v.closed {
		return 0, errVMFailed
	}
	prev := v.frame
	v.frame = fr
	if v.p.r.opts.HostCallObserver != nil {
		prevGuest := v.guest
		v.guest = funcName(fn)
		defer func() { v.guest = prevGuest }()
	}
	stack := v.stack[:]
	copy(stack, args)
	err := fn.CallWithStack(v.ctx, stack)
	v.frame = prev
	if err != nil {
		v.fail(fmt.Errorf("%s: %w", funcName(fn), err))
		return 0, err
	}
	return stack[0], nil
}

// fail marks the VM failed after a trap; Envoy never calls a failed VM again.
func (v *vm) fail(err error) {
	if v.failed.Swap(true) {
		return
	}
	v.logger.Error("proxywasm: VM failed; streams follow the failure policy",
		"error", err, "fail_open", v.p.cfg.FailOpen)
	if v.timer != nil {
		v.timer.stop()
	}
}

// newFrame returns the frame for a callback on context id, effective
// context included. v.mu must be held. The frame is the VM's scratch frame:
// it is valid until the next newFrame, which is enough because guest calls
// never overlap.
func (v *vm) newFrame(id uint32) *frame {
	fr := &v.scratch
	*fr = frame{ctxID: id, touched: fr.touched[:0]}
	if id != v.rootID {
		fr.stream = v.streams[id]
	}
	return fr
}

// runAsync runs fn on the VM's executor under the VM lock and then applies
// the deferred stream actions the guest requested.
func (v *vm) runAsync(fn func(fr *frame)) {
	v.exec.post(func() {
		v.mu.Lock()
		if v.closed || v.failed.Load() {
			v.mu.Unlock()
			return
		}
		fr := v.newFrame(v.rootID)
		fn(fr)
		acts := takeActions(fr.touched)
		v.mu.Unlock()
		for _, a := range acts {
			a.apply()
		}
	})
}

// close ends the VM: it stops the timer and callouts, calls on_done and
// on_delete on the root context and closes the module instance.
func (v *vm) close(ctx context.Context) error {
	v.exec.stop()
	v.cancelCallouts()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	if v.timer != nil {
		v.timer.stop()
	}
	if !v.failed.Load() && v.rootID != 0 {
		fr := v.newFrame(v.rootID)
		if v.fns.onDone != nil {
			_, _ = v.call(fr, v.fns.onDone, uint64(v.rootID))
		}
		if v.fns.onDelete != nil {
			_, _ = v.call(fr, v.fns.onDelete, uint64(v.rootID))
		}
	}
	v.closed = true
	if err := v.mod.Close(ctx); err != nil {
		return fmt.Errorf("proxywasm: close VM %d: %w", v.index, err)
	}
	return nil
}

// funcName names an exported guest function for errors.
func funcName(fn api.Function) string {
	if names := fn.Definition().ExportNames(); len(names) > 0 {
		return names[0]
	}
	return fn.Definition().DebugName()
}
