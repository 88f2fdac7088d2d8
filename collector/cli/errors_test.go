package cli

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/credentials"

	"github.com/shadowdiff/shadowdiff/collector/internal/testpki"
	"github.com/shadowdiff/shadowdiff/collector/server"
)

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUnreachableCollector(t *testing.T) {
	addr := closedAddr(t)
	for _, args := range [][]string{{"endpoints"}, {"fields", "GET /x"}, {"gate"}, {"watch"}, {"noise", "list"}} {
		r := run(t, nil, append([]string{"--collector", addr}, args...)...)
		if r.code != ExitFailed || !strings.Contains(r.stderr, "cannot reach collector at "+addr+":") {
			t.Errorf("%v against a closed port:\n%s", args, r)
		}
	}
	// The address comes from the environment when --collector is not given.
	r := runEnv(t, nil, map[string]string{EnvCollector: addr}, "endpoints")
	if r.code != ExitFailed || !strings.Contains(r.stderr, "cannot reach collector at "+addr) {
		t.Errorf("with %s=%s:\n%s", EnvCollector, addr, r)
	}
}

// The console's port (HTTP/1) given as --collector: say so, not an HTTP/2
// framing error.
func TestCollectorAddressThatSpeaksHTTP1(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	r := run(t, nil, "--collector", addr, "endpoints")
	if r.code != ExitFailed || !strings.Contains(r.stderr, addr+" answers HTTP/1, not gRPC") || !strings.Contains(r.stderr, "--grpc-addr") {
		t.Errorf("endpoints against an HTTP/1 server:\n%s", r)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"fields"}, "fields needs ENDPOINT"},
		{[]string{"samples"}, "samples needs ENDPOINT"},
		{[]string{"request", "a", "b"}, "request takes at most 1 argument"},
		{[]string{"endpoint-rules", "add", "/x/{id}"}, "add needs ENDPOINT"},
		{[]string{"clear"}, "clear needs either an ENDPOINT or --all"},
		{[]string{"clear", "GET /x", "--all"}, "clear needs either an ENDPOINT or --all"},
		{[]string{"endpoints", "-o", "xml"}, "--output must be table, wide, json or yaml"},
		{[]string{"endpoints", "--since", "soon"}, "invalid argument \"soon\""},
		{[]string{"endpoints", "--from", "yesterday"}, "--from: not an RFC 3339 time"},
		{[]string{"endpoints", "--since", "1h", "--from", "2025-06-01T00:00:00Z"}, "give --since or --from, not both"},
		{[]string{"gate", "--rule", "vibes"}, "--rule must be statistical or diffy"},
		{[]string{"gate", "--confidence", "1.5"}, "--confidence must be between 0 and 1"},
		{[]string{"gate", "--max-regressions", "-1"}, "--max-regressions must not be negative"},
		{[]string{"noise"}, "noise needs a subcommand"},
		{[]string{"bogus"}, "unknown command \"bogus\""},
		{[]string{"endpoints", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"--tls-cert", "c.pem", "endpoints"}, "--tls-cert and --tls-key go together"},
	} {
		r := run(t, nil, append([]string{"--collector", "127.0.0.1:1"}, c.args...)...)
		if r.code != ExitFailed || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "--help' for usage") {
			t.Errorf("%q: want exit 2 with %q and a hint to --help:\n%s", c.args, c.want, r)
		}
	}
}

// TestEveryCommandHasHelpWithExample walks the command tree.
func TestEveryCommandHasHelpWithExample(t *testing.T) {
	var walk func(path []string, c *cobra.Command)
	walk = func(path []string, c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" {
			return
		}
		r := run(t, nil, append(path, "--help")...)
		if r.code != ExitOK || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "shadowdiff "+strings.Join(path, " ")) {
			t.Errorf("%v --help has no example:\n%s", path, r)
		}
		for _, sub := range c.Commands() {
			walk(append(append([]string(nil), path...), sub.Name()), sub)
		}
	}
	walk(nil, NewCommand(nil, nil, func(string) string { return "" }))
}

func TestUnknownNames(t *testing.T) {
	c := seeded(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"fields", "GET /nope"}, "endpoint \"GET /nope\" not found; run `shadowdiff endpoints`"},
		{[]string{"samples", "GET /nope", "status"}, "endpoint \"GET /nope\" not found; run `shadowdiff endpoints`"},
		{[]string{"gate", "GET /nope"}, "endpoint \"GET /nope\" not found; run `shadowdiff endpoints`"},
		{[]string{"request", "no-such-request"}, "request \"no-such-request\" not found"},
		{[]string{"noise", "delete", "no-such-rule"}, "noise rule \"no-such-rule\" not found; run `shadowdiff noise list`"},
		{[]string{"endpoint-rules", "delete", "no-such-rule"}, "endpoint rule \"no-such-rule\" not found"},
	} {
		r := run(t, c, tc.args...)
		if r.code != ExitFailed || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: want exit 2 with %q:\n%s", tc.args, tc.want, r)
		}
	}
}

func TestTLS(t *testing.T) {
	pki := testpki.New(t)
	c := startCollector(t, server.Options{Creds: credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pki.Server}, MinVersion: tls.VersionTLS12})})
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"CA given", []string{"--tls-ca", pki.CAFile}, true},
		{"server name given", []string{"--tls-ca", pki.CAFile, "--tls-server-name", "localhost"}, true},
		{"wrong server name", []string{"--tls-ca", pki.CAFile, "--tls-server-name", "elsewhere"}, false},
		{"no CA: system roots", []string{"--tls"}, false},
		{"skip verify", []string{"--insecure-skip-verify"}, true},
		{"plaintext to a TLS collector", nil, false},
	} {
		r := run(t, c, append(tc.args, "endpoint-rules", "list")...)
		if tc.ok && r.code != ExitOK || !tc.ok && (r.code != ExitFailed || !strings.Contains(r.stderr, "cannot reach collector at COLLECTOR")) {
			t.Errorf("%s: %s", tc.name, r)
		}
	}
}
