package proxywasm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"
)

// rawCodec passes serialized messages through: the guest hands the host
// bare protobuf bytes and gRPC adds the 5-byte length prefix, as Envoy's
// raw async client does. Its name is empty so the content type stays
// application/grpc.
type rawCodec struct{}

func (rawCodec) Name() string { return "" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case []byte:
		return m, nil
	case *[]byte:
		return *m, nil
	}
	return nil, fmt.Errorf("proxywasm: raw codec cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("proxywasm: raw codec cannot unmarshal into %T", v)
	}
	*p = append((*p)[:0], data...)
	return nil
}

// grpcConns keeps one HTTP/2 (h2c) client connection per endpoint.
type grpcConns struct {
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

func newGrpcConns() *grpcConns { return &grpcConns{conns: map[string]*grpc.ClientConn{}} }

func (c *grpcConns) get(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("proxywasm: runtime closed")
	}
	if cc := c.conns[addr]; cc != nil {
		return cc, nil
	}
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})),
		grpc.WithStatsHandler(trailerWatch{}))
	if err != nil {
		return nil, fmt.Errorf("proxywasm: gRPC client for %s: %w", addr, err)
	}
	c.conns[addr] = cc
	return cc, nil
}

func (c *grpcConns) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for addr, cc := range c.conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("proxywasm: close gRPC connection to %s: %w", addr, err))
		}
	}
	c.conns = nil
	return errors.Join(errs...)
}

// trailerWatch notes, for a stream whose context carries a *trailersSeen,
// that the server's trailers (its status) arrived: grpc-go reports a
// stream the connection dropped as UNAVAILABLE, like a server's status,
// where Envoy reports a reset after the response headers as INTERNAL.
type trailerWatch struct{}

// trailersSeen is set once a stream's trailers arrive.
type trailersSeen struct{ atomic.Bool }

type trailersSeenKey struct{}

func withTrailersSeen(ctx context.Context) (context.Context, *trailersSeen) {
	seen := new(trailersSeen)
	return context.WithValue(ctx, trailersSeenKey{}, seen), seen
}

func (trailerWatch) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (trailerWatch) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.InTrailer); ok {
		if seen, ok := ctx.Value(trailersSeenKey{}).(*trailersSeen); ok {
			seen.Store(true)
		}
	}
}

func (trailerWatch) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (trailerWatch) HandleConn(context.Context, stats.ConnStats) {}
