package server

import (
	"context"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func TestNewValidates(t *testing.T) {
	if _, err := New(nil, fixedQuery{}, Options{}); err == nil {
		t.Error("nil ingester: want an error")
	}
	if _, err := New(&memIngester{}, nil, Options{}); err == nil {
		t.Error("nil query server: want an error")
	}
	if _, err := New(&memIngester{}, fixedQuery{}, Options{MaxBatchDigests: -1}); err == nil {
		t.Error("negative limit: want an error")
	}
}

func TestQueryIsPassedThrough(t *testing.T) {
	eng := newEngine(t)
	r := start(t, eng, eng.QueryServer(), Options{})
	ctx := context.Background()
	var triple []*shadowdiffv1.ResponseDigest
	for _, role := range []shadowdiffv1.Role{shadowdiffv1.Role_ROLE_PRIMARY, shadowdiffv1.Role_ROLE_SECONDARY, shadowdiffv1.Role_ROLE_CANDIDATE} {
		triple = append(triple, digests(1, role)...)
	}
	if _, err := shadowdiffv1.NewCollectorClient(r.conn).Report(ctx, &shadowdiffv1.DigestBatch{Sequence: 1, Digests: triple}); err != nil {
		t.Fatal(err)
	}
	query := shadowdiffv1.NewQueryClient(r.conn)
	resp, err := query.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Endpoints) != 1 || resp.Endpoints[0].Endpoint != "GET /users/{id}" || resp.Endpoints[0].Compared != 1 {
		t.Errorf("ListEndpoints = %v, want GET /users/{id} with one compared request", resp)
	}
	rec, err := query.GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: "req-0"})
	if err != nil || rec.GetCandidate().GetRole() != shadowdiffv1.Role_ROLE_CANDIDATE {
		t.Errorf("GetRequest = %v, %v", rec, err)
	}
	_, err = query.GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: "nope"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetRequest of an unknown key: %v, want NotFound", err)
	}
}

func TestHealthAndShutdown(t *testing.T) {
	r := start(t, &memIngester{}, fixedQuery{}, Options{})
	health := healthpb.NewHealthClient(r.conn)
	ctx := context.Background()
	for _, svc := range []string{"", "shadowdiff.v1.Collector", "shadowdiff.v1.Query"} {
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q = %v, %v; want SERVING", svc, resp, err)
		}
	}
	if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("health of an unknown service: %v, want NotFound", err)
	}

	watchCtx, watchCancel := context.WithCancel(ctx)
	defer watchCancel()
	watch, err := health.Watch(watchCtx, &healthpb.HealthCheckRequest{Service: "shadowdiff.v1.Collector"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first health update = %v, %v; want SERVING", resp, err)
	}
	// An idle ingest stream must not hold the shutdown up: it ends with
	// Unavailable so the sidecar reconnects to another replica.
	stream := ackedStream(t, ctx, r.conn)
	if !r.srv.Serving() {
		t.Error("Serving() = false before Shutdown")
	}

	// A query watcher must not hold the shutdown up either, and learns
	// that the server went away, not that it cancelled.
	regressions, err := shadowdiffv1.NewQueryClient(r.conn).WatchRegressions(ctx, &shadowdiffv1.WatchRegressionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := regressions.Recv(); err != nil {
		t.Fatalf("first regression event: %v", err)
	}
	// Nor an idle reflection stream (grpcurl's), whose handler waits in
	// Recv and does not watch its context.
	refl, err := reflectionpb.NewServerReflectionClient(r.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}

	shutdownCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- r.srv.Shutdown(shutdownCtx) }()

	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health update after Shutdown = %v, %v; want NOT_SERVING", resp, err)
	}
	if r.srv.Serving() {
		t.Error("Serving() = true after Shutdown")
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("ingest stream after Shutdown: %v, want Unavailable", err)
	}
	if _, err := regressions.Recv(); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("regression watch after Shutdown: %v, want Unavailable", err)
	}
	if _, err := refl.Recv(); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("reflection stream after Shutdown: %v, want Unavailable", err)
	}
	watchCancel() // a health watcher that saw NOT_SERVING goes away
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v (a stream held it up)", err)
	}
}

// blockingIngester holds each batch until released, to shut down while
// one is being stored.
type blockingIngester struct {
	memIngester
	storing chan struct{}
	release chan struct{}
}

func (b *blockingIngester) Ingest(ctx context.Context, ds []*shadowdiffv1.ResponseDigest) (int, []*shadowdiffv1.Rejection, error) {
	b.storing <- struct{}{}
	<-b.release
	return b.memIngester.Ingest(ctx, ds)
}

// An ingest stream storing a batch when the collector shuts down has it
// acknowledged, then ends with Unavailable: the sender reconnects and
// resends nothing twice.
func TestIngestStoringAtShutdown(t *testing.T) {
	ing := &blockingIngester{storing: make(chan struct{}), release: make(chan struct{})}
	r := start(t, ing, fixedQuery{}, Options{})
	stream, err := shadowdiffv1.NewCollectorClient(r.conn).Ingest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&shadowdiffv1.DigestBatch{Sequence: 1, Digests: digests(2, shadowdiffv1.Role_ROLE_PRIMARY)}); err != nil {
		t.Fatal(err)
	}
	<-ing.storing
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- r.srv.Shutdown(ctx) }()
	for r.srv.Serving() {
		time.Sleep(time.Millisecond)
	}
	close(ing.release)
	if ack, err := stream.Recv(); err != nil || ack.GetAccepted() != 2 {
		t.Errorf("ack of the batch stored at shutdown: %v, %v; want 2 accepted", ack, err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("ingest stream after its ack: %v, want Unavailable", err)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestReflectionListsServices(t *testing.T) {
	r := start(t, &memIngester{}, fixedQuery{}, Options{})
	stream, err := reflectionpb.NewServerReflectionClient(r.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	sort.Strings(names)
	want := "grpc.health.v1.Health grpc.reflection.v1.ServerReflection grpc.reflection.v1alpha.ServerReflection shadowdiff.v1.Collector shadowdiff.v1.Query"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("services = %s, want %s", got, want)
	}
	// The descriptors are there too, so grpcurl can describe the API.
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "shadowdiff.v1.Query"},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err = stream.Recv()
	if err != nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Errorf("descriptor of shadowdiff.v1.Query: %v, %v", resp, err)
	}
	stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("after CloseSend: %v", err)
	}
}

// Health watchers see NOT_SERVING at shutdown and then their streams end
// with Unavailable, so they do not hold the graceful stop up until its
// timeout; a watch of a service the server does not know ends too.
func TestHealthWatchEndsOnShutdown(t *testing.T) {
	r := start(t, &memIngester{}, fixedQuery{}, Options{})
	health := healthpb.NewHealthClient(r.conn)
	ctx := context.Background()
	watches := map[string]healthpb.HealthCheckResponse_ServingStatus{
		"":                        healthpb.HealthCheckResponse_SERVING,
		"shadowdiff.v1.Collector": healthpb.HealthCheckResponse_SERVING,
		"nope":                    healthpb.HealthCheckResponse_SERVICE_UNKNOWN,
	}
	streams := map[string]healthpb.Health_WatchClient{}
	for svc, want := range watches {
		watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := watch.Recv(); err != nil || resp.GetStatus() != want {
			t.Fatalf("first status of %q = %v, %v; want %v", svc, resp, err, want)
		}
		streams[svc] = watch
	}

	// The bound is the test's only timing: without the fix Shutdown
	// waits for it and fails.
	shutdownCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- r.srv.Shutdown(shutdownCtx) }()

	for svc, watch := range streams {
		if watches[svc] == healthpb.HealthCheckResponse_SERVING {
			if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
				t.Errorf("status of %q after Shutdown = %v, %v; want NOT_SERVING", svc, resp, err)
			}
		}
		if resp, err := watch.Recv(); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
			t.Errorf("watch of %q after Shutdown: %v, %v; want the end of the stream with Unavailable", svc, resp, err)
		}
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v (a health watch held it up)", err)
	}
}

// A request that is not a valid message is the client's error on every
// service and kind of call: InvalidArgument naming the message, not the
// Internal gRPC sends for a codec's error.
func TestMalformedRequestIsInvalidArgument(t *testing.T) {
	r := start(t, &memIngester{}, fixedQuery{}, Options{})
	malformed := preEncoded{0xff, 0xff, 0xff} // a tag whose varint never ends
	var reply shadowdiffv1.DigestAck          // never decoded: the calls fail
	for _, c := range []struct{ method, message string }{
		{shadowdiffv1.Query_ListEndpoints_FullMethodName, "ListEndpointsRequest"},
		{shadowdiffv1.Query_GetRequest_FullMethodName, "GetRequestRequest"},
		{healthpb.Health_Check_FullMethodName, "HealthCheckRequest"},
	} {
		err := r.conn.Invoke(context.Background(), c.method, malformed, &reply, grpc.ForceCodecV2(rawCodec{}))
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "request is not a valid "+c.message+": ") {
			t.Errorf("%s: %v, want InvalidArgument saying the request is not a valid %s", c.method, err, c.message)
		}
	}
	for _, c := range []struct {
		desc            *grpc.StreamDesc
		method, message string
	}{
		{&shadowdiffv1.Query_ServiceDesc.Streams[0], shadowdiffv1.Query_WatchRegressions_FullMethodName, "WatchRegressionsRequest"},
		{&healthpb.Health_ServiceDesc.Streams[0], healthpb.Health_Watch_FullMethodName, "HealthCheckRequest"},
	} {
		stream, err := r.conn.NewStream(context.Background(), c.desc, c.method, grpc.ForceCodecV2(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.SendMsg(malformed); err != nil {
			t.Fatal(err)
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		err = stream.RecvMsg(&reply)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "request is not a valid "+c.message+": ") {
			t.Errorf("%s: %v, want InvalidArgument saying the request is not a valid %s", c.method, err, c.message)
		}
	}
	// A valid request still goes through.
	if _, err := healthpb.NewHealthClient(r.conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health check: %v", err)
	}
}

// panickyQuery's watch panics: the stream, run in a goroutine of its own
// by drainStreams, must still be recovered into Internal, not crash.
type panickyQuery struct{ fixedQuery }

func (panickyQuery) WatchRegressions(*shadowdiffv1.WatchRegressionsRequest, grpc.ServerStreamingServer[shadowdiffv1.RegressionEvent]) error {
	panic("watch told to panic")
}

func TestPanickingStreamHandlerIsRecovered(t *testing.T) {
	r := start(t, &memIngester{}, panickyQuery{}, Options{})
	watch, err := shadowdiffv1.NewQueryClient(r.conn).WatchRegressions(context.Background(), &shadowdiffv1.WatchRegressionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); status.Code(err) != codes.Internal {
		t.Errorf("a panicking watch: %v, want Internal", err)
	}
}
