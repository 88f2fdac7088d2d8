package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// watch relays WatchRegressions as Server-Sent Events: one "regression"
// event per RegressionEvent (protojson in the data line). Streams end after
// Options.WatchMaxDuration; EventSource reconnects by itself after the
// "retry" delay, so a server shutdown never waits on a console tab.
func (c *console) watch(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "Internal", "streaming unsupported by this server")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.opts.WatchMaxDuration)
	defer cancel()

	s := &sseStream{ctx: ctx, w: w, flusher: flusher}
	// Open the stream at once so the browser sees it connected.
	if err := s.comment("open"); err != nil {
		return
	}
	done := make(chan error, 1)
	go func() {
		// Not a request's goroutine: net/http would not recover a panic
		// (a bug) here, and it would end the collector.
		defer func() {
			if p := recover(); p != nil {
				c.log.Error("watch panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				done <- status.Errorf(codes.Internal, "internal error: %v", p)
			}
		}()
		done <- c.q.WatchRegressions(&shadowdiffv1.WatchRegressionsRequest{Endpoint: r.URL.Query().Get("endpoint")}, s)
	}()

	tick := time.NewTicker(c.opts.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			c.finishWatch(s, err)
			return
		case <-tick.C:
			if err := s.comment("heartbeat"); err != nil {
				cancel()
				<-done
				return
			}
		case <-ctx.Done():
			// The server-side method must notice the cancelled context; wait
			// for it so it never writes to a finished response.
			<-done
			return
		}
	}
}

// finishWatch reports why the Query method ended. An "end" event with code
// Unimplemented tells the app not to reconnect (it keeps polling).
func (c *console) finishWatch(s *sseStream, err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	st := status.Convert(err)
	if st.Code() == codes.Canceled || st.Code() == codes.DeadlineExceeded {
		return
	}
	if st.Code() != codes.Unimplemented {
		c.log.Warn("watch ended", "code", st.Code().String(), "err", st.Message())
	}
	data, _ := json.Marshal(apiError{Error: st.Message(), Code: st.Code().String()})
	_ = s.event("end", data)
}

// sseStream adapts an HTTP response to grpc.ServerStreamingServer so the
// Query service's streaming method runs unchanged in-process.
type sseStream struct {
	ctx     context.Context
	w       http.ResponseWriter
	flusher http.Flusher

	mu   sync.Mutex
	open bool
}

func (s *sseStream) Send(ev *shadowdiffv1.RegressionEvent) error {
	data, err := marshal.Marshal(ev)
	if err != nil {
		return status.Errorf(codes.Internal, "encode event: %v", err)
	}
	return s.event("regression", data)
}

// begin writes the SSE headers once; callers hold mu.
func (s *sseStream) begin() {
	if s.open {
		return
	}
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
	fmt.Fprint(s.w, "retry: 3000\n\n")
	s.open = true
}

func (s *sseStream) event(name string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	s.begin()
	// protojson output is one line unless Multiline is set.
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, data); err != nil {
		return status.Errorf(codes.Unavailable, "write event: %v", err)
	}
	s.flusher.Flush()
	return nil
}

func (s *sseStream) comment(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ctx.Err(); err != nil {
		return err
	}
	s.begin()
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	s.flusher.Flush()
	return nil
}

// SendHeader is how the Query service says the subscription is live; the
// stream says so too, so clients know from when on no event is missed.
func (s *sseStream) SendHeader(metadata.MD) error {
	if err := s.comment("subscribed"); err != nil {
		return status.FromContextError(err).Err()
	}
	return nil
}

func (s *sseStream) Context() context.Context    { return s.ctx }
func (s *sseStream) SetHeader(metadata.MD) error { return nil }
func (s *sseStream) SetTrailer(metadata.MD)      {}
func (s *sseStream) SendMsg(m any) error {
	ev, ok := m.(*shadowdiffv1.RegressionEvent)
	if !ok {
		return status.Errorf(codes.Internal, "unexpected message %T", m)
	}
	return s.Send(ev)
}
func (s *sseStream) RecvMsg(any) error {
	return status.Error(codes.Unimplemented, "server stream only")
}
