package testenv

import (
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// RecordingCollector is a gRPC Collector that keeps every digest it gets
// and acknowledges each batch: tests read what the real filter.wasm sent.
type RecordingCollector struct {
	shadowdiffv1.UnimplementedCollectorServer
	Addr    string
	mu      sync.Mutex
	digests []*shadowdiffv1.ResponseDigest
	// authorities are the :authority headers of the streams, in order.
	authorities []string
}

// StartRecordingCollector serves a RecordingCollector on addr
// ("127.0.0.1:0" for any port) until the test ends.
func StartRecordingCollector(tb testing.TB, addr string) *RecordingCollector {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	c := &RecordingCollector{Addr: ln.Addr().String()}
	srv := grpc.NewServer()
	shadowdiffv1.RegisterCollectorServer(srv, c)
	go srv.Serve(ln)
	tb.Cleanup(srv.Stop)
	return c
}

func (c *RecordingCollector) Ingest(stream grpc.BidiStreamingServer[shadowdiffv1.DigestBatch, shadowdiffv1.DigestAck]) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	c.mu.Lock()
	c.authorities = append(c.authorities, md.Get(":authority")...)
	c.mu.Unlock()
	for {
		b, err := stream.Recv()
		if err != nil {
			return nil
		}
		c.mu.Lock()
		c.digests = append(c.digests, b.GetDigests()...)
		c.mu.Unlock()
		if err := stream.Send(&shadowdiffv1.DigestAck{Sequence: b.GetSequence(), Accepted: uint32(len(b.GetDigests()))}); err != nil {
			return nil
		}
	}
}

// Digests returns the digests received so far, in order.
func (c *RecordingCollector) Digests() []*shadowdiffv1.ResponseDigest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*shadowdiffv1.ResponseDigest(nil), c.digests...)
}

// Authorities returns the :authority headers of the streams opened so far.
func (c *RecordingCollector) Authorities() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.authorities...)
}
