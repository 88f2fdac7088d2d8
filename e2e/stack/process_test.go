package stack

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// A child that exits is a failure even when the readiness probe passes:
// the probe goes by address and may reach another stack on the same port.
func TestWaitUntilFailsWhenChildExitedThoughProbePassed(t *testing.T) {
	p, err := startProcess("app-primary", "/bin/sh",
		[]string{"-c", "echo 'listen tcp 127.0.0.1:18001: bind: address already in use' >&2; exit 1"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// The probe answers once the child is gone, as another stack's app would.
	probe := func(context.Context) error { <-p.done; return nil }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = waitUntil(ctx, p, probe)
	if err == nil {
		t.Fatal("waitUntil: nil error for a child that exited")
	}
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), "app-primary exited") ||
		!strings.Contains(err.Error(), "bind: address already in use") {
		t.Errorf("error %q: want it to name app-primary, wrap ErrPortInUse and show the log tail", err)
	}

	// The check after start-up catches a child that died later.
	s := &Stack{apps: []*Process{p}}
	if err := s.running(); err == nil || !strings.Contains(err.Error(), "app-primary exited") {
		t.Errorf("running: %v, want app-primary exited", err)
	}
}

// A taken port of the bootstrap stops Start before it runs anything, with
// the port and its role named.
func TestStartRefusesATakenPort(t *testing.T) {
	// Hold the collector's port unless something (a demo) already does:
	// either way it is taken.
	if l, err := net.Listen("tcp", "127.0.0.1:9090"); err == nil {
		defer l.Close()
	}
	_, err := Start(context.Background(), Options{
		BinDir: t.TempDir(), EnvoyConfig: "../../envoy/local.yaml", WorkDir: t.TempDir(),
	})
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), "port 9090 (collector gRPC)") {
		t.Errorf("Start: %v, want port 9090 (collector gRPC) named and ErrPortInUse", err)
	}
}

func TestPortsFree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := l.Addr().(*net.TCPAddr).Port
	err = portsFree(map[int]int{PortAppCandidate: held})
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), "(app-candidate)") {
		t.Errorf("portsFree: %v, want ErrPortInUse naming app-candidate", err)
	}
}
