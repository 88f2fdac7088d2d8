package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// recoverUnary turns a panic in a handler into an Internal error, so one
// bad message never takes the collector down.
func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = panicked(log, info.FullMethod, r)
			}
		}()
		return handler(ctx, req)
	}
}

// recoverStream is recoverUnary for streaming handlers.
func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = panicked(log, info.FullMethod, r)
			}
		}()
		return handler(srv, ss)
	}
}

func panicked(log *slog.Logger, method string, r any) error {
	log.Error("handler panicked", "method", method, "panic", r, "stack", string(debug.Stack()))
	return status.Errorf(codes.Internal, "internal error in %s", method)
}

// drainStreams cancels the context of long-lived server streams (the query
// API's WatchRegressions, reflection) when the server starts draining, so a
// graceful stop is not held up by watchers, and ends them with Unavailable
// (endedByShutdown). The handler runs in a goroutine of its own, so a
// stream whose handler ignores the cancellation (reflection waits in Recv)
// is ended all the same; recoverStream therefore runs inside this
// interceptor, in that goroutine. The ingest stream ends itself after its current batch,
// and a health watch once it has sent NOT_SERVING (healthServer.Watch):
// cancelled at once, it could miss it.
func drainStreams(draining <-chan struct{}) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		switch info.FullMethod {
		case shadowdiffv1.Collector_Ingest_FullMethodName, healthgrpc.Health_Watch_FullMethodName:
			return handler(srv, ss)
		}
		ctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- handler(srv, &ctxStream{ServerStream: ss, ctx: ctx}) }()
		select {
		case err := <-done:
			return endedByShutdown(ss.Context(), draining, err)
		case <-draining:
		}
		cancel()
		select {
		case err := <-done: // a handler that watches its context (WatchRegressions)
			return endedByShutdown(ss.Context(), draining, err)
		case <-time.After(drainGrace):
			// One blocked in Recv (reflection) does not see the
			// cancellation; returning ends the stream, and its Recv
			// then fails, so the handler's goroutine ends too.
			return shuttingDown("reconnect to resume the stream")
		}
	}
}

// drainGrace is how long a cancelled stream handler may take to return on
// its own before the stream is ended without it.
const drainGrace = 100 * time.Millisecond

// shuttingDown is the status of a call the server ends because it shuts
// down: Unavailable, which clients retry (elsewhere, or once it is back),
// saying what to do then.
func shuttingDown(then string) error {
	return status.Error(codes.Unavailable, "collector is shutting down; "+then)
}

// endedByShutdown returns the error a stream's handler returned (err), or
// shuttingDown when it is the Canceled of the context the server cancelled
// as it drains while the client's (client) is still live: the handler
// cannot tell, and Canceled would tell the client it had cancelled.
func endedByShutdown(client context.Context, draining <-chan struct{}, err error) error {
	if status.Code(err) != codes.Canceled || client.Err() != nil {
		return err
	}
	select {
	case <-draining:
		return shuttingDown("reconnect to resume the stream")
	default:
		return err
	}
}

// ctxStream is a ServerStream with another context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }
