package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain runs the command itself when the test binary is started as a
// child by TestExitCodes.
func TestMain(m *testing.M) {
	if os.Getenv("SHADOWDIFF_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestExitCodes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	for _, c := range []struct {
		args []string
		env  string
		code int
		out  string
	}{
		{[]string{"gate", "--help"}, "", 0, "Argo Rollouts"},
		{[]string{"fields"}, "", 2, "fields needs ENDPOINT"},
		{[]string{"--collector", closed, "gate"}, "", 2, "cannot reach collector at " + closed},
		{[]string{"endpoints"}, "SHADOWDIFF_COLLECTOR=" + closed, 2, "cannot reach collector at " + closed},
	} {
		cmd := exec.Command(os.Args[0], c.args...)
		cmd.Env = append(os.Environ(), "SHADOWDIFF_TEST_MAIN=1")
		if c.env != "" {
			cmd.Env = append(cmd.Env, c.env)
		}
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.Contains(string(out), c.out) {
			t.Errorf("shadowdiff %q: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.out, out)
		}
	}
}
