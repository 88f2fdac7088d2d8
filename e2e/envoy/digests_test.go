package envoy

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// recordingCollector is a gRPC Collector that keeps every digest it gets
// and acknowledges each batch: the tests read what the real filter.wasm sent.
type recordingCollector struct {
	shadowdiffv1.UnimplementedCollectorServer
	addr    string
	mu      sync.Mutex
	digests []*shadowdiffv1.ResponseDigest
	// received, when set, is told of each digest as it arrives.
	received func(*shadowdiffv1.ResponseDigest)
}

func startRecordingCollector(t *testing.T) *recordingCollector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &recordingCollector{addr: ln.Addr().String()}
	srv := grpc.NewServer()
	shadowdiffv1.RegisterCollectorServer(srv, c)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return c
}

func (c *recordingCollector) Ingest(stream grpc.BidiStreamingServer[shadowdiffv1.DigestBatch, shadowdiffv1.DigestAck]) error {
	for {
		b, err := stream.Recv()
		if err != nil {
			return nil
		}
		c.mu.Lock()
		c.digests = append(c.digests, b.GetDigests()...)
		if c.received != nil {
			for _, d := range b.GetDigests() {
				c.received(d)
			}
		}
		c.mu.Unlock()
		if err := stream.Send(&shadowdiffv1.DigestAck{Sequence: b.GetSequence(), Accepted: uint32(len(b.GetDigests()))}); err != nil {
			return nil
		}
	}
}

// await returns the digests of the pairing keys once all have arrived.
func (c *recordingCollector) await(t *testing.T, keys ...string) map[string]*shadowdiffv1.ResponseDigest {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		c.mu.Lock()
		got := map[string]*shadowdiffv1.ResponseDigest{}
		for _, d := range c.digests {
			got[d.GetPairingKey()] = d
		}
		c.mu.Unlock()
		missing := 0
		for _, k := range keys {
			if got[k] == nil {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the digests %v did not reach the collector in %v (got %d)", missing, keys, guard, len(got))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// withFilterConfig replaces the shadowdiff plugin configuration of a
// sidecarBootstrap.
func withFilterConfig(t *testing.T, bootstrap, config string) string {
	t.Helper()
	const def = `'{"role":"primary","collector":{"cluster":"shadowdiff-collector"}}'`
	if !strings.Contains(bootstrap, def) {
		t.Fatal("sidecarBootstrap's plugin configuration changed")
	}
	return strings.Replace(bootstrap, def, "'"+config+"'", 1)
}
