// Package server is the collector's gRPC front end: the ingest service the
// filters stream digests to (shadowdiff.v1.Collector), the query API
// (shadowdiff.v1.Query, passed through to the store), gRPC health checking
// and server reflection, with limits, panic recovery and Prometheus metrics.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Defaults of Options.
const (
	DefaultMaxBatchDigests = 1024
	DefaultMaxRecvBytes    = 16 << 20
)

// Ingester stores digests: the collector's engine. It returns how many
// digests it accepted and a rejection (with the digest's index in ds) for
// each malformed one. An error means nothing can be promised about the
// batch; the sender should retry it.
type Ingester interface {
	Ingest(ctx context.Context, ds []*shadowdiffv1.ResponseDigest) (int, []*shadowdiffv1.Rejection, error)
}

// DropRecorder is implemented by an Ingester that keeps count of the digests
// filters dropped before sending (DigestBatch.dropped), so the query API can
// report the loss. It is optional.
type DropRecorder interface {
	RecordDropped(ctx context.Context, n uint64) error
}

// EncodedIngester is implemented by an Ingester that can store digests in
// the wire form they arrived in (the engine): wire[i] is the encoding of
// ds[i], valid until the call returns. The Ingest stream then passes the
// encodings along so that they need not be made again, and leaves the
// digests' body fields (most of a digest) out of ds: the ingester reads
// them from wire. It is optional.
type EncodedIngester interface {
	IngestEncoded(ctx context.Context, ds []*shadowdiffv1.ResponseDigest, wire [][]byte) (int, []*shadowdiffv1.Rejection, error)
}

// Options configures the server. The zero value is usable.
type Options struct {
	// MaxBatchDigests is the largest number of digests in one batch
	// (default DefaultMaxBatchDigests).
	MaxBatchDigests int
	// MaxRecvBytes is the largest batch the server accepts (default
	// DefaultMaxRecvBytes). A larger batch is refused with InvalidArgument;
	// one larger than twice the limit is refused by gRPC itself, before it
	// is read, with ResourceExhausted.
	MaxRecvBytes int
	// Validate, when set, checks every digest of a Report call before any
	// is stored, so that Report stores the whole batch or nothing (the
	// engine's Validate). Without it, Report stores the valid digests of a
	// batch and still fails naming the first invalid one.
	Validate func(*shadowdiffv1.ResponseDigest) error
	// Creds secures the listener; nil serves plaintext.
	Creds credentials.TransportCredentials
	// Logger receives the server's logs; default slog.Default().
	Logger *slog.Logger
	// Registerer receives the server's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// ServerOptions are appended to the server's own gRPC options.
	ServerOptions []grpc.ServerOption
}

// Services whose health is reported (besides "", the server as a whole).
var healthServices = []string{shadowdiffv1.Collector_ServiceDesc.ServiceName, shadowdiffv1.Query_ServiceDesc.ServiceName}

// Server is the collector's gRPC server.
type Server struct {
	grpc      *grpc.Server
	health    *health.Server
	log       *slog.Logger
	draining  chan struct{} // closed by Shutdown: ingest streams end
	drainOnce sync.Once
	// stopping is set by Shutdown before the health statuses change, so
	// Serving is false by the time a health watch sees NOT_SERVING.
	stopping atomic.Bool
}

// New builds the gRPC server with every service registered. Serve it with
// Serve and stop it with Shutdown.
func New(ingester Ingester, query shadowdiffv1.QueryServer, opts Options) (*Server, error) {
	if ingester == nil || query == nil {
		return nil, errors.New("server: an ingester and a query server are required")
	}
	if opts.MaxBatchDigests < 0 || opts.MaxRecvBytes < 0 {
		return nil, fmt.Errorf("server: limits must not be negative (max batch digests %d, max receive bytes %d)",
			opts.MaxBatchDigests, opts.MaxRecvBytes)
	}
	if opts.MaxBatchDigests == 0 {
		opts.MaxBatchDigests = DefaultMaxBatchDigests
	}
	if opts.MaxRecvBytes == 0 {
		opts.MaxRecvBytes = DefaultMaxRecvBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger.With("component", "grpc")
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("server: register metrics: %w", err)
	}

	s := &Server{health: health.NewServer(), log: log, draining: make(chan struct{})}
	buffers := &dirtyPool{}
	gopts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(readLimit(opts.MaxRecvBytes)),
		// Stop returns only after every handler has returned, so the store
		// can be closed right after Shutdown.
		grpc.WaitForHandlers(true),
		grpc.StatsHandler(sizeRecorder{}),
		grpc.ForceServerCodecV2(newVTCodec()),
		experimental.BufferPool(buffers),
		grpc.ChainUnaryInterceptor(recoverUnary(log)),
		grpc.ChainStreamInterceptor(drainStreams(s.draining), recoverStream(log), invalidStreamRequests),
		// Sidecars keep one stream open for hours; let their keepalive
		// pings through instead of answering them with GOAWAY.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if opts.Creds != nil {
		gopts = append(gopts, grpc.Creds(opts.Creds))
	}
	s.grpc = grpc.NewServer(append(gopts, opts.ServerOptions...)...)

	s.grpc.RegisterService(collectorDesc(), &collector{
		buffers:    buffers,
		ingester:   ingester,
		maxDigests: opts.MaxBatchDigests,
		maxBytes:   opts.MaxRecvBytes,
		validate:   opts.Validate,
		metrics:    m,
		log:        log,
		draining:   s.draining,
	})
	// A malformed request is InvalidArgument on every service (see
	// request); Report decodes its batch itself (collectorDesc).
	s.grpc.RegisterService(invalidRequests(&shadowdiffv1.Query_ServiceDesc), query)
	s.grpc.RegisterService(invalidRequests(&healthgrpc.Health_ServiceDesc), &healthServer{Server: s.health, draining: s.draining})
	reflection.Register(s.grpc)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, svc := range healthServices {
		s.health.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
	}
	return s, nil
}

// readLimit is the size beyond which gRPC refuses a message unread. Up to
// it, the handlers measure a batch and refuse it with InvalidArgument, which
// the contract asks for and senders treat as "do not retry this batch"
// (gRPC's own ResourceExhausted cannot be replaced: it is sent before the
// handler sees the error).
func readLimit(maxBytes int) int {
	if maxBytes > math.MaxInt32/2 {
		return math.MaxInt32
	}
	return 2 * maxBytes
}

// Serve accepts connections on l until Shutdown; it returns nil after a
// shutdown.
func (s *Server) Serve(l net.Listener) error {
	if err := s.grpc.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("grpc serve: %w", err)
	}
	return nil
}

// Serving reports whether the server still accepts work (false once
// Shutdown began), for HTTP health endpoints.
func (s *Server) Serving() bool {
	return !s.stopping.Load()
}

// Shutdown reports NOT_SERVING on every health service (health watches end
// once they have sent it), ends the ingest streams (each after
// acknowledging the batch it is storing, so that a batch a sender holds
// unacknowledged was not stored) and stops gracefully; when ctx ends first, the
// remaining calls are cancelled. It returns ctx's error in that case.
func (s *Server) Shutdown(ctx context.Context) error {
	s.drainOnce.Do(func() {
		s.stopping.Store(true)
		s.health.Shutdown()
		close(s.draining)
	})
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.log.Warn("graceful stop timed out; cancelling the remaining calls", "error", ctx.Err())
		s.grpc.Stop()
		<-done
		return fmt.Errorf("grpc graceful stop: %w", ctx.Err())
	}
}
