package testenv

import (
	"net"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
)

// HungCollector accepts every gRPC stream and never reads or answers it,
// as a collector whose store hangs: the filter's batches stay
// unacknowledged.
type HungCollector struct {
	Addr string
	// Open counts the streams still open at it; Opened receives one value
	// per stream opened (buffered: a test may ignore it).
	Open   atomic.Int64
	Opened chan struct{}
}

// StartHungCollector serves a HungCollector on a loopback port until the
// test ends.
func StartHungCollector(tb testing.TB) *HungCollector {
	tb.Helper()
	c := &HungCollector{Opened: make(chan struct{}, 64)}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, st grpc.ServerStream) error {
		c.Open.Add(1)
		defer c.Open.Add(-1)
		select {
		case c.Opened <- struct{}{}:
		default:
		}
		<-st.Context().Done()
		return nil
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(srv.Stop)
	return c
}
