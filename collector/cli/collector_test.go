package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shadowdiff/shadowdiff/collector/engine"
	"github.com/shadowdiff/shadowdiff/collector/server"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// testCollector is a real collector (engine and gRPC server) on a loopback
// port, as bin/collector runs it.
type testCollector struct {
	addr   string
	engine *engine.Engine
	srv    *server.Server
	conn   *grpc.ClientConn
	// later is how far the collector's clock is past seedNow (advance).
	later *atomic.Int64
}

// seedNow is the collector's clock in tests: a little after the seeded
// traffic, so time windows and retention are stable.
var seedNow = seedBase.Add(time.Hour)

func startCollector(t *testing.T, opts server.Options) *testCollector {
	t.Helper()
	return startCollectorWith(t, opts, nil)
}

// startCollectorWith serves the query API through wrap (nil: as it is);
// configure, when given, changes the engine's options.
func startCollectorWith(t *testing.T, opts server.Options, wrap func(shadowdiffv1.QueryServer) shadowdiffv1.QueryServer, configure ...func(*engine.Options)) *testCollector {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	later := new(atomic.Int64)
	eopts := engine.Options{
		PairWindow: 2 * time.Second, MinSamples: 100, Logger: log,
		Now: func() time.Time { return seedNow.Add(time.Duration(later.Load())) },
	}
	for _, f := range configure {
		f(&eopts)
	}
	eng, err := engine.Open(t.TempDir(), eopts)
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	opts.Logger = log
	var query shadowdiffv1.QueryServer = eng.QueryServer()
	if wrap != nil {
		query = wrap(query)
	}
	srv, err := server.New(eng, query, opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := eng.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return &testCollector{addr: l.Addr().String(), engine: eng, srv: srv, conn: conn, later: later}
}

// expire moves the collector's clock past the pairing window and closes
// the requests still waiting for a role, as incomplete (or compared
// without the secondary).
func (c *testCollector) expire(t *testing.T) {
	t.Helper()
	c.later.Add(int64(time.Minute))
	if err := c.engine.Flush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// ingest streams the digests to the collector as a filter does, in
// batches, and checks every ack.
func (c *testCollector) ingest(t *testing.T, ds []*shadowdiffv1.ResponseDigest) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := shadowdiffv1.NewCollectorClient(c.conn).Ingest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 256
	for seq, i := uint64(1), 0; i < len(ds); seq, i = seq+1, i+batch {
		b := ds[i:min(i+batch, len(ds))]
		if err := stream.Send(&shadowdiffv1.DigestBatch{Sequence: seq, Digests: b}); err != nil {
			t.Fatalf("send batch %d: %v", seq, err)
		}
		ack, err := stream.Recv()
		if err != nil {
			t.Fatalf("ack of batch %d: %v", seq, err)
		}
		if ack.GetSequence() != seq || int(ack.GetAccepted()) != len(b) || len(ack.GetRejections()) > 0 {
			t.Fatalf("ack of batch %d = %v, want all %d accepted", seq, ack, len(b))
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := c.engine.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// waitCompared waits until the collector compared want requests in total
// (pairing may finish after the ack).
func (c *testCollector) waitCompared(t *testing.T, want uint64) {
	t.Helper()
	c.waitTotal(t, "compared", (*shadowdiffv1.Totals).GetCompared, want)
}

// waitTotal waits until one of the collector's totals reaches want.
func (c *testCollector) waitTotal(t *testing.T, what string, total func(*shadowdiffv1.Totals) uint64, want uint64) {
	t.Helper()
	q := shadowdiffv1.NewQueryClient(c.conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := q.ListEndpoints(context.Background(), &shadowdiffv1.ListEndpointsRequest{})
		if err != nil {
			t.Fatalf("list endpoints: %v", err)
		}
		if total(resp.GetTotals()) >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector %s %d of %d requests: %v", what, total(resp.GetTotals()), want, resp)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seeded returns a collector holding the seeded traffic.
func seeded(t *testing.T) *testCollector {
	t.Helper()
	c := startCollector(t, server.Options{})
	c.ingest(t, seedTraffic())
	c.waitCompared(t, 3*seedRequests)
	return c
}

// result of one CLI run.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// run runs the CLI against the collector (nil: no --collector flag).
func run(t *testing.T, c *testCollector, args ...string) result {
	t.Helper()
	return runEnv(t, c, nil, args...)
}

func runEnv(t *testing.T, c *testCollector, env map[string]string, args ...string) result {
	t.Helper()
	if c != nil {
		args = append([]string{"--collector", c.addr}, args...)
	}
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, &stdout, &stderr, func(k string) string { return env[k] })
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	if c != nil {
		r.stdout = strings.ReplaceAll(r.stdout, c.addr, "COLLECTOR")
		r.stderr = strings.ReplaceAll(r.stderr, c.addr, "COLLECTOR")
	}
	return r
}

// An address without a port gets the collector's gRPC port, not gRPC's 443.
func TestCollectorDefaultPort(t *testing.T) {
	for in, want := range map[string]string{
		"localhost":                   "localhost:9090",
		"localhost:1234":              "localhost:1234",
		"shadowdiff-collector.ns.svc": "shadowdiff-collector.ns.svc:9090",
		"10.0.0.7":                    "10.0.0.7:9090",
		"::1":                         "[::1]:9090",
		"[::1]":                       "[::1]:9090",
		"[::1]:1234":                  "[::1]:1234",
		"dns:///collector:1234":       "dns:///collector:1234",
		"unix:///run/collector.sock":  "unix:///run/collector.sock",
	} {
		if got := withDefaultPort(in); got != want {
			t.Errorf("withDefaultPort(%q) = %q, want %q", in, got, want)
		}
	}
	// Port 9090 is the demo's collector, when one runs: reaching it is fine too.
	r := runEnv(t, nil, map[string]string{EnvCollector: "127.0.0.1"}, "endpoints", "--timeout", "2s")
	if r.code != ExitOK && !strings.Contains(r.stderr, "127.0.0.1:9090") {
		t.Errorf("endpoints with %s=127.0.0.1: %s\nwant 127.0.0.1:9090 dialled", EnvCollector, r)
	}
}
