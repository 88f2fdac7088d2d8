// Package testenv holds what the e2e packages' tests and benchmarks share:
// building the real binaries and filter.wasm from this tree, and running a
// real collector on loopback.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Commands are the binaries the local stack runs.
var Commands = []string{"./collector/cmd/collector", "./e2e/cmd/sidecar", "./e2e/cmd/sampleapp"}

// RepoRoot finds the module root above the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// goTool is the go command of the toolchain running the test.
func goTool() string { return filepath.Join(runtime.GOROOT(), "bin", "go") }

// BuildFilter compiles filter.wasm into dir as `make filter` does and
// returns its path.
func BuildFilter(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "filter.wasm")
	cmd := exec.Command(goTool(), "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./filter/cmd/filter")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build filter.wasm: %v\n%s", err, b)
	}
	return out, nil
}

// BuildStack compiles Commands and filter.wasm into dir: everything
// e2e/stack starts.
func BuildStack(dir string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command(goTool(), append([]string{"build", "-trimpath", "-o", dir + string(filepath.Separator)}, Commands...)...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %v: %v\n%s", Commands, err, b)
	}
	_, err = BuildFilter(dir)
	return err
}

// FilterWasm builds filter.wasm into a test directory, failing tb on error.
func FilterWasm(tb testing.TB) string {
	tb.Helper()
	path, err := BuildFilter(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return path
}
