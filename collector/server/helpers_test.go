package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/shadowdiff/shadowdiff/collector/engine"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// The engine keeps count of the digests filters dropped and stores
// digests in the form they arrived in.
var (
	_ DropRecorder    = (*engine.Engine)(nil)
	_ EncodedIngester = (*engine.Engine)(nil)
)

// newEngine opens the collector's real engine in a temporary directory.
func newEngine(t testing.TB) *engine.Engine {
	t.Helper()
	eng, err := engine.Open(t.TempDir(), engine.Options{PairWindow: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() {
		if err := eng.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return eng
}

// memIngester is a small in-memory Ingester for what the real engine does
// not do on demand: it can be told to fail or panic, and it records the
// drops filters report. It rejects digests without a pairing key or role.
type memIngester struct {
	mu      sync.Mutex
	stored  []*shadowdiffv1.ResponseDigest
	dropped uint64
	fail    error
	panics  bool
}

func (m *memIngester) Ingest(_ context.Context, ds []*shadowdiffv1.ResponseDigest) (int, []*shadowdiffv1.Rejection, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.panics {
		panic("memIngester told to panic")
	}
	if m.fail != nil {
		return 0, nil, m.fail
	}
	var rejections []*shadowdiffv1.Rejection
	for i, d := range ds {
		switch {
		case d.GetPairingKey() == "":
			rejections = append(rejections, &shadowdiffv1.Rejection{Index: uint32(i), Reason: "pairing_key is empty"})
		case d.GetRole() == shadowdiffv1.Role_ROLE_UNSPECIFIED:
			rejections = append(rejections, &shadowdiffv1.Rejection{Index: uint32(i), Reason: "role is unspecified"})
		default:
			m.stored = append(m.stored, d)
		}
	}
	return len(ds) - len(rejections), rejections, nil
}

func (m *memIngester) RecordDropped(_ context.Context, n uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropped += n
	return nil
}

func (m *memIngester) count() (stored int, dropped uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.stored), m.dropped
}

// fixedQuery is a query service whose watch sends one event and then
// waits for the end of the call, to test shutdown.
type fixedQuery struct {
	shadowdiffv1.UnimplementedQueryServer
}

// WatchRegressions sends one event, then waits for the end of the call.
func (fixedQuery) WatchRegressions(_ *shadowdiffv1.WatchRegressionsRequest, stream grpc.ServerStreamingServer[shadowdiffv1.RegressionEvent]) error {
	if err := stream.Send(&shadowdiffv1.RegressionEvent{Endpoint: "GET /users/{id}"}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return status.FromContextError(stream.Context().Err()).Err()
}

// running is a server on a loopback port with a client connection.
type running struct {
	once sync.Once
	srv  *Server
	conn *grpc.ClientConn
	reg  *prometheus.Registry
	done chan error
}

func start(t testing.TB, ing Ingester, q shadowdiffv1.QueryServer, opts Options) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := New(ing, q, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	r := &running{srv: srv, reg: reg, done: make(chan error, 1)}
	go func() { r.done <- srv.Serve(l) }()
	r.conn, err = grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() {
		r.conn.Close()
		r.stop(t)
	})
	return r
}

// stop shuts the server down and waits for Serve to return.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() { r.shutdown(t) })
}

func (r *running) shutdown(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-ctx.Done():
		t.Errorf("Serve did not return after Shutdown")
	}
}

// digests makes n valid digests for the role.
func digests(n int, role shadowdiffv1.Role) []*shadowdiffv1.ResponseDigest {
	out := make([]*shadowdiffv1.ResponseDigest, n)
	for i := range out {
		out[i] = &shadowdiffv1.ResponseDigest{
			PairingKey: fmt.Sprintf("req-%d", i),
			Role:       role,
			Endpoint:   &shadowdiffv1.EndpointRef{Method: "GET", Path: fmt.Sprintf("/users/%d", i)},
			Request:    &shadowdiffv1.RequestFingerprint{Method: "GET", Path: fmt.Sprintf("/users/%d", i)},
			Status:     200,
		}
	}
	return out
}

var errStore = errors.New("disk full")

// ackedStream opens an Ingest stream on conn and has one batch of one
// digest acknowledged on it.
func ackedStream(t testing.TB, ctx context.Context, conn grpc.ClientConnInterface) grpc.BidiStreamingClient[shadowdiffv1.DigestBatch, shadowdiffv1.DigestAck] {
	t.Helper()
	stream, err := shadowdiffv1.NewCollectorClient(conn).Ingest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&shadowdiffv1.DigestBatch{Sequence: 1, Digests: digests(1, shadowdiffv1.Role_ROLE_PRIMARY)}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	return stream
}
