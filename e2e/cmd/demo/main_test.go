package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestHelpExitsZero(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &out, &errOut); err != nil {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(errOut.String(), "-free-ports") {
		t.Errorf("--help printed %q, want the flags", errOut.String())
	}
}

// With another demo on the fixed ports, the demo fails and points at
// --free-ports instead of reporting on the other demo's stack.
func TestTakenPortSuggestsFreePorts(t *testing.T) {
	if l, err := net.Listen("tcp", "127.0.0.1:9090"); err == nil {
		defer l.Close()
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"--bin", t.TempDir(), "--envoy", "../../../envoy/local.yaml",
		"--workdir", filepath.Join(t.TempDir(), "run")}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "port 9090 (collector gRPC)") || !strings.Contains(err.Error(), "--free-ports") {
		t.Errorf("run: %v, want the taken port named and --free-ports suggested", err)
	}
}
