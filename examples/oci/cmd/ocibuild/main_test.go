package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/examples/oci"
)

func TestWritesPushableLayouts(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "sampleapp")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./e2e/cmd/sampleapp")
	cmd.Dir = "../../../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var stdout strings.Builder
	out := filepath.Join(dir, "oci")
	if err := run([]string{"--out", out, "--version", "1.2.3", "--sampleapp", bin}, &stdout); err != nil {
		t.Fatal(err)
	}
	img, tag, err := oci.ReadLayout(filepath.Join(out, "shadowdiff-sampleapp"))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if tag != "1.2.3" || !strings.Contains(stdout.String(), d.String()) {
		t.Errorf("tag %q, output %q, digest %s", tag, stdout.String(), d)
	}
	if _, err := os.Stat(filepath.Join(out, "shadowdiff-filter")); !os.IsNotExist(err) {
		t.Errorf("filter layout written without --filter: %v", err)
	}
}

func TestNeedsAnInput(t *testing.T) {
	if err := run([]string{"--out", t.TempDir()}, io.Discard); err == nil {
		t.Error("ran with nothing to build")
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if err := run([]string{"--out", t.TempDir(), "--sampleapp", "x"}, io.Discard); err == nil {
		t.Error("accepted a bad SOURCE_DATE_EPOCH")
	}
}
