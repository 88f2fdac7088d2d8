package main

import (
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The binary serves, answers /health and exits 0 on SIGTERM.
func TestServeAndGracefulShutdown(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sampleapp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(bin, "--addr", addr, "--variant", "v2", "--instance", "v2-test")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err = http.Get("http://" + addr + "/health"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("never served: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("x-served-by") != "v2-test" {
		t.Fatalf("GET /health: %s, x-served-by %q", resp.Status, resp.Header.Get("x-served-by"))
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

func TestRejectsUnknownVariant(t *testing.T) {
	if err := run([]string{"--variant", "v3", "--addr", "127.0.0.1:0"}); err == nil {
		t.Fatal("variant v3 accepted")
	}
}
