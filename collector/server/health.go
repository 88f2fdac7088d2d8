package server

import (
	"context"
	"sync"

	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthServer is grpc-go's health server with watches that end once the
// server drains: its Shutdown reports NOT_SERVING to watchers but leaves
// their streams open, and an open stream holds GracefulStop up until the
// shutdown timeout.
type healthServer struct {
	*health.Server
	draining <-chan struct{}
}

// Watch ends the watch after it has sent the status the service has once
// the server drains (NOT_SERVING, or SERVICE_UNKNOWN for a service the
// server does not know), so watchers learn why the stream ends, and then
// with Unavailable, as drainStreams ends the other streams.
func (h *healthServer) Watch(req *healthpb.HealthCheckRequest, stream healthgrpc.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	w := &drainingWatch{Health_WatchServer: stream, ctx: ctx, cancel: cancel, sent: -1, final: -1}
	go func() {
		select {
		case <-h.draining:
			// Shutdown set every status before draining began: what
			// Check says now is what the watch sends last.
			final := healthpb.HealthCheckResponse_SERVICE_UNKNOWN
			if resp, err := h.Check(ctx, req); err == nil {
				final = resp.GetStatus()
			}
			w.endAfter(final)
		case <-ctx.Done():
		}
	}()
	return endedByShutdown(stream.Context(), h.draining, h.Server.Watch(req, w))
}

// drainingWatch is a watch stream whose context ends once it has sent
// its final status.
type drainingWatch struct {
	healthgrpc.Health_WatchServer
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	sent  healthpb.HealthCheckResponse_ServingStatus // last sent, -1 before the first
	final healthpb.HealthCheckResponse_ServingStatus // -1 until the server drains
}

func (w *drainingWatch) Context() context.Context { return w.ctx }

func (w *drainingWatch) Send(m *healthpb.HealthCheckResponse) error {
	if err := w.Health_WatchServer.Send(m); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = m.GetStatus()
	w.endIfFinalLocked()
	return nil
}

// endAfter ends the watch once it has sent final, at once if it has. The
// health server sends a status only when it changes, so one sent before
// draining is not sent again.
func (w *drainingWatch) endAfter(final healthpb.HealthCheckResponse_ServingStatus) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.final = final
	w.endIfFinalLocked()
}

func (w *drainingWatch) endIfFinalLocked() {
	if w.final >= 0 && w.sent == w.final {
		w.cancel()
	}
}
