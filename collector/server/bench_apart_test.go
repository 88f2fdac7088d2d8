package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shadowdiff/shadowdiff/collector/engine"
)

// The environment of the client process of BenchmarkIngestApart.
const (
	apartTarget  = "SHADOWDIFF_BENCH_CLIENT_TARGET"
	apartN       = "SHADOWDIFF_BENCH_CLIENT_N"
	apartStreams = "SHADOWDIFF_BENCH_CLIENT_STREAMS"
	apartSent    = "sent in ns: "
)

// BenchmarkIngestApart is BenchmarkIngestEngine with its client in a
// process of its own (this test binary running TestIngestClientProcess),
// as sidecars are: digests/cpu-s divides by the collector's CPU time
// alone (server, engine, store, GC), the figure a collector pod spends;
// client-ns/digest is the client's. digests/s is the client's sending
// time, with the client on a core of its own when there are two. Run with
// -cpu 1 for the per-core figure.
func BenchmarkIngestApart(b *testing.B) {
	const perBatch, streams = 64, 16
	eng, err := engine.Open(b.TempDir(), engine.Options{PairWindow: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	r := start(b, eng, eng.QueryServer(), Options{})
	cmd := exec.Command(os.Args[0], "-test.run=^TestIngestClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), apartTarget+"="+r.conn.Target(), apartN+"="+strconv.Itoa(b.N),
		apartStreams+"="+strconv.Itoa(streams), "GOMAXPROCS=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	err = cmd.Run()
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	if err != nil {
		b.Fatalf("client process: %v\n%s", err, out.Bytes())
	}
	_, after, ok := bytes.Cut(out.Bytes(), []byte(apartSent))
	line, _, _ := bytes.Cut(after, []byte("\n"))
	sent, perr := strconv.ParseInt(string(line), 10, 64)
	if !ok || perr != nil {
		b.Fatalf("client process printed no sending time:\n%s", out.Bytes())
	}
	digests := float64(3 * perBatch * b.N)
	client := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	b.ReportMetric(digests/time.Duration(sent).Seconds(), "digests/s")
	b.ReportMetric(digests/cpu.Seconds(), "digests/cpu-s")
	b.ReportMetric(float64(client.Nanoseconds())/digests, "client-ns/digest")
}

// TestIngestClientProcess is the client of BenchmarkIngestApart, which
// runs it in a process of its own; otherwise it is skipped.
func TestIngestClientProcess(t *testing.T) {
	target := os.Getenv(apartTarget)
	if target == "" {
		t.Skip("the client process of BenchmarkIngestApart")
	}
	n, err1 := strconv.Atoi(os.Getenv(apartN))
	streams, err2 := strconv.Atoi(os.Getenv(apartStreams))
	if err1 != nil || err2 != nil {
		t.Fatalf("%s, %s: %v, %v", apartN, apartStreams, err1, err2)
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const perBatch = 64
	eb := newEncodedBatches(t, perBatch)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	began := time.Now()
	for range streams {
		wg.Go(func() { sendBatches(t, conn, eb, &next, n, perBatch) })
	}
	wg.Wait()
	fmt.Printf("%s%d\n", apartSent, time.Since(began).Nanoseconds())
}
