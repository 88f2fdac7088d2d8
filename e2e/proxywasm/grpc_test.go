package proxywasm

import (
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
)

// echoServer is a real grpc-go server speaking raw bytes for test.Echo.
type echoServer struct {
	addr      string
	metadata  chan metadata.MD
	cancelled chan struct{}
}

func startEchoServer(t *testing.T) *echoServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	es := &echoServer{addr: l.Addr().String(), metadata: make(chan metadata.MD, 16), cancelled: make(chan struct{}, 1)}
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(es.handle))
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return es
}

func (es *echoServer) handle(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	md, _ := metadata.FromIncomingContext(stream.Context())
	es.metadata <- md
	switch method {
	case "/test.Echo/Chat":
		if err := stream.SetHeader(metadata.Pairs("x-init", "i1")); err != nil {
			return err
		}
		for {
			var m []byte
			err := stream.RecvMsg(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if err := stream.SendMsg(append([]byte("echo:"), m...)); err != nil {
				return err
			}
		}
		stream.SetTrailer(metadata.Pairs("x-trail", "t1"))
		return nil
	case "/test.Echo/Unary":
		var m []byte
		if err := stream.RecvMsg(&m); err != nil {
			return err
		}
		return stream.SendMsg(append([]byte("unary:"), m...))
	case "/test.Echo/Fail":
		return grpcstatus.Error(codes.PermissionDenied, "nope")
	case "/test.Echo/Hang":
		<-stream.Context().Done()
		es.cancelled <- struct{}{}
		return stream.Context().Err()
	}
	return grpcstatus.Errorf(codes.Unimplemented, "no method %s", method)
}

func grpcHarness(t *testing.T) (*harness, *Plugin, *echoServer) {
	t.Helper()
	es := startEchoServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	h := newHarness(t, RuntimeOptions{Workers: 1, Clusters: testClusters{
		"collector": newTestCluster("collector", true, es.addr),
		"down":      newTestCluster("down", true, down),
	}})
	return h, h.load(t, PluginConfig{}), es
}

func TestGrpcStream(t *testing.T) {
	h, p, es := grpcHarness(t)
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("grpc-stream", "x-cluster", "collector"), true)
	h.rep.expect(t, map[string]string{
		"grpc.stream_start":           "0:2", // stream ids are ≡ 2 mod 4
		"grpc.send1":                  "0",
		"grpc.send2":                  "0",
		"grpc.close_local":            "0",
		"grpc.send_after_local_close": "0",
	})
	h.rep.wait(t, "grpc.send_after_close", 1)
	h.rep.expect(t, map[string]string{
		"grpc.initial":            "3:0::status:200|content-type:application/grpc|x-init:i1",
		"grpc.initial_in_receive": "2",
		"grpc.trailing":           "2:0:x-trail:t1|grpc-status:0",
		"grpc.close":              "2:0:0:0::true", // delivered on the root context
		"grpc.send_after_close":   "1",
	})
	if got := h.rep.all("grpc.msg"); !slices.Equal(got, []string{"2:0:echo:m1", "2:0:echo:m2"}) {
		t.Errorf("messages = %q", got)
	}
	md := <-es.metadata
	if got := md.Get("x-md"); !slices.Equal(got, []string{"v1"}) {
		t.Errorf("server saw x-md %q", got)
	}
	if got := md.Get("content-type"); len(got) != 1 || got[0] != "application/grpc" {
		t.Errorf("server saw content-type %q", got)
	}
}

func TestGrpcUnaryCall(t *testing.T) {
	h, p, _ := grpcHarness(t)
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("grpc-call", "x-cluster", "collector", "x-method", "Unary"), true)
	h.rep.expect(t, map[string]string{"grpc.call_start": "0:1"}) // call ids are ≡ 1 mod 4
	if got := h.rep.wait(t, "grpc.msg", 1); got[0] != "1:0:unary:hello" {
		t.Errorf("grpc.msg = %q", got)
	}

	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("grpc-call", "x-cluster", "collector", "x-method", "Fail"), true)
	h.rep.wait(t, "grpc.send_after_close", 1)
	h.rep.expect(t, map[string]string{"grpc.close": "1:7:0:7:nope:true", "grpc.send_after_close": "2"})
	// Envoy reports a successful unary call with on_grpc_receive only.
	if got := h.rep.all("grpc.close"); len(got) != 1 {
		t.Errorf("grpc.close reported %d times: %q", len(got), got)
	}
}

func TestGrpcCancelAndErrors(t *testing.T) {
	h, p, es := grpcHarness(t)
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("grpc-cancel", "x-cluster", "collector"), true)
	h.rep.expect(t, map[string]string{"grpc.hang_start": "0"})
	<-es.metadata // the server has the stream
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("grpc-cancel-now"), true)
	h.rep.expect(t, map[string]string{"grpc.cancel": "0", "grpc.cancel_again": "1"})
	select {
	case <-es.cancelled:
	case <-time.After(20 * time.Second):
		t.Fatal("the server never saw the cancellation")
	}

	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("grpc-errors", "x-cluster", "collector"), true)
	h.rep.expect(t, map[string]string{
		"grpc.unknown_bare":   "4", // PARSE_FAILURE: not a GrpcService, not a cluster
		"grpc.known_bare":     "0:2",
		"grpc.no_envoy_grpc":  "2",
		"grpc.send_unknown":   "1",
		"grpc.send_call_id":   "2",
		"grpc.cancel_unknown": "1",
		"grpc.close_unknown":  "1",
		"grpc.status_outside": `0:0:""`,
	})

	// A stream to a dead endpoint closes with UNAVAILABLE.
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("grpc-stream", "x-cluster", "down"), true)
	closed := h.rep.wait(t, "grpc.close", 1)
	if !strings.HasPrefix(closed[0], "2:14:0:14:") {
		t.Errorf("grpc.close = %q, want UNAVAILABLE (14)", closed[0])
	}
	if got := h.rep.all("grpc.cancelled_callback"); len(got) != 0 {
		t.Errorf("callbacks arrived for a cancelled stream: %q", got)
	}
}

// A stream the server ends with a status after its headers closes with that
// status; one whose connection drops after the headers closes INTERNAL, as
// Envoy's gRPC client reports a reset, not grpc-go's UNAVAILABLE: the
// filter sends its unacknowledged batches again only after UNAVAILABLE.
func TestGrpcStreamResetAfterHeadersIsInternal(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	headersSent := make(chan struct{}, 1)
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		if err := stream.SendHeader(metadata.Pairs("x-init", "i1")); err != nil {
			return err
		}
		if method, _ := grpc.MethodFromServerStream(stream); method == "/test.Echo/Unavailable" {
			return grpcstatus.Error(codes.Unavailable, "shutting down")
		}
		headersSent <- struct{}{}
		<-stream.Context().Done()
		return nil
	}))
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	h := newHarness(t, RuntimeOptions{Workers: 1, Clusters: testClusters{"collector": newTestCluster("collector", true, l.Addr().String())}})
	p := h.load(t, PluginConfig{})

	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("grpc-stream-to", "x-cluster", "collector", "x-method", "Unavailable"), true)
	if closed := h.rep.wait(t, "grpc.close", 1); !strings.HasPrefix(closed[0], "2:14:0:14:shutting down") {
		t.Errorf("grpc.close after the server's UNAVAILABLE = %q, want 14", closed[0])
	}
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("grpc-stream-to", "x-cluster", "collector", "x-method", "Drop"), true)
	<-headersSent
	h.rep.wait(t, "grpc.initial", 2) // the headers reached the plugin
	srv.Stop()                       // and the connection drops under the stream
	if closed := h.rep.wait(t, "grpc.close", 2); !strings.HasPrefix(closed[1], "2:13:0:13:") {
		t.Errorf("grpc.close after a reset = %q, want INTERNAL (13)", closed[1])
	}
}
