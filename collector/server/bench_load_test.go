package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// loadEnv names the variable that turns TestIngestLoadGenerator on in a
// child process; its value is the load, in JSON.
const loadEnv = "SHADOWDIFF_INGEST_LOAD"

// load is what a load generator sends: n iterations of perBatch requests
// over streams streams (each three with rolesApart), to addr.
type load struct {
	Addr       string `json:"addr"`
	N          int    `json:"n"`
	Streams    int    `json:"streams"`
	PerBatch   int    `json:"per_batch"`
	RolesApart bool   `json:"roles_apart"`
}

// TestIngestLoadGenerator is not a test: it is BenchmarkIngestEngine's
// load generator when the benchmark runs it in a child process
// (client=process). It connects, says "ready", waits for a line on its
// input, sends, and exits; any rejected batch fails it.
func TestIngestLoadGenerator(t *testing.T) {
	spec := os.Getenv(loadEnv)
	if spec == "" {
		t.Skip("the ingest benchmark's load generator, run by BenchmarkIngestEngine")
	}
	var l load
	if err := json.Unmarshal([]byte(spec), &l); err != nil {
		t.Fatalf("%s: %v", loadEnv, err)
	}
	conn, err := grpc.NewClient(l.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer conn.Close()
	conn.Connect()
	eb := newEncodedBatches(t, l.PerBatch)
	send := sendBatches
	if l.RolesApart {
		send = sendApart
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatalf("waiting for the start: %v", err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range l.Streams {
		wg.Go(func() { send(t, conn, eb, &next, l.N, l.PerBatch) })
	}
	wg.Wait()
}

// loadProcess is a load generator running in a child process.
type loadProcess struct {
	cmd   *exec.Cmd
	start io.WriteCloser
	// output is what the generator wrote after "ready" (its verdict),
	// complete once copied is closed.
	output bytes.Buffer
	copied chan struct{}
}

// startLoad runs this test binary as a load generator for l and returns
// once it is connected and waiting for go.
func startLoad(b *testing.B, l load) *loadProcess {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	spec, err := json.Marshal(l)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", "^TestIngestLoadGenerator$")
	cmd.Env = append(os.Environ(), loadEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	start, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the load generator: %v", err)
	}
	p := &loadProcess{cmd: cmd, start: start, copied: make(chan struct{})}
	lines := bufio.NewReader(out)
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			break
		}
		if line == "ready\n" {
			go func() {
				defer close(p.copied)
				io.Copy(&p.output, lines)
			}()
			return p
		}
	}
	start.Close()
	b.Fatalf("the load generator ended before it was ready: %v", cmd.Wait())
	return nil
}

// run starts the load and waits for the generator to end.
func (p *loadProcess) run(b *testing.B) {
	b.Helper()
	if _, err := io.WriteString(p.start, "go\n"); err != nil {
		b.Fatalf("start the load: %v", err)
	}
	p.start.Close()
	<-p.copied // Wait closes the pipe: read it to the end first
	if err := p.cmd.Wait(); err != nil {
		b.Fatalf("the load generator failed: %v\n%s", err, p.output.Bytes())
	}
}
