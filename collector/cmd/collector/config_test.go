package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/engine"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		grpcAddr: ":9090", httpAddr: ":9091", dataDir: "./shadowdiff-data", pairWindow: 30 * time.Second,
		maxPending: 100000, retention: 168 * time.Hour, samplesPerField: 20, confidence: 0.99, minSamples: 200,
		autoTemplate: 50, maxEndpoints: 1000, maxBatchDigests: 1024, maxRecvBytes: 16777216, logLevel: slog.LevelInfo, logFormat: "json",
		shutdownTimeout: 20 * time.Second,
	}
	if *c != want {
		t.Errorf("defaults = %+v\nwant       %+v", *c, want)
	}
}

func TestConfigEnvironmentAndFlags(t *testing.T) {
	c, err := parseConfig(
		[]string{"--pair-window", "2s", "--min-samples", "100", "--log-format", "text"},
		env(map[string]string{
			"SHADOWDIFF_PAIR_WINDOW":    "5s", // the flag wins
			"SHADOWDIFF_DATA_DIR":       "/var/lib/shadowdiff",
			"SHADOWDIFF_MAX_RECV_BYTES": "4MiB",
			"SHADOWDIFF_LOG_LEVEL":      "debug",
			"SHADOWDIFF_CONFIDENCE":     "0.95",
		}))
	if err != nil {
		t.Fatal(err)
	}
	if c.pairWindow != 2*time.Second || c.minSamples != 100 || c.logFormat != "text" {
		t.Errorf("flags not applied: %+v", *c)
	}
	if c.dataDir != "/var/lib/shadowdiff" || c.maxRecvBytes != 4<<20 || c.logLevel != slog.LevelDebug || c.confidence != 0.95 {
		t.Errorf("environment not applied: %+v", *c)
	}
}

// A variable set to the empty string counts as set: SHADOWDIFF_HTTP_ADDR=
// turns HTTP off, and an empty number is an error naming the variable.
func TestEmptyEnvironmentCounts(t *testing.T) {
	c, err := parseConfig(nil, env(map[string]string{"SHADOWDIFF_HTTP_ADDR": "", "SHADOWDIFF_TLS_CERT": "", "SHADOWDIFF_TLS_KEY": ""}))
	if err != nil || c.httpAddr != "" || c.tlsCert != "" {
		t.Errorf("SHADOWDIFF_HTTP_ADDR= and empty TLS files: %+v, %v; want no HTTP listener, plaintext", c, err)
	}
	c, err = parseConfig([]string{"--http-addr", ":8080"}, env(map[string]string{"SHADOWDIFF_HTTP_ADDR": ""}))
	if err != nil || c.httpAddr != ":8080" {
		t.Errorf("--http-addr with SHADOWDIFF_HTTP_ADDR=: %+v, %v; want the flag", c, err)
	}
	for name, want := range map[string]string{
		"SHADOWDIFF_MAX_PENDING":    "environment SHADOWDIFF_MAX_PENDING is set but empty: not an integer (unset it for the default, 100000)",
		"SHADOWDIFF_CONFIDENCE":     "environment SHADOWDIFF_CONFIDENCE is set but empty: not a number (unset it for the default, 0.99)",
		"SHADOWDIFF_RETENTION":      "environment SHADOWDIFF_RETENTION is set but empty: not a duration (like 90s, 5m or 168h) (unset it for the default, 168h0m0s)",
		"SHADOWDIFF_MAX_RECV_BYTES": "environment SHADOWDIFF_MAX_RECV_BYTES is set but empty: not a size in bytes: a number, or one with KiB, MiB or GiB (like 16MiB) (unset it for the default, 16777216)",
		"SHADOWDIFF_LOG_LEVEL":      "environment SHADOWDIFF_LOG_LEVEL is set but empty: not a log level (debug, info, warn or error) (unset it for the default, info)",
		"SHADOWDIFF_GRPC_ADDR":      "--grpc-addr (SHADOWDIFF_GRPC_ADDR) must not be empty",
		"SHADOWDIFF_DATA_DIR":       "--data-dir (SHADOWDIFF_DATA_DIR) must not be empty",
		"SHADOWDIFF_LOG_FORMAT":     `--log-format (SHADOWDIFF_LOG_FORMAT) must be json or text, got ""`,
	} {
		_, err := parseConfig(nil, env(map[string]string{name: ""}))
		if err == nil || err.Error() != want {
			t.Errorf("%s=: %v\nwant %s", name, err, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--confidence", "1"}, nil, "--confidence (SHADOWDIFF_CONFIDENCE) must be between 0 and 1"},
		{[]string{"--tls-cert", "c.pem"}, nil, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-client-ca", "ca.pem"}, nil, "--tls-client-ca needs --tls-cert"},
		{[]string{"--log-format", "xml"}, nil, "--log-format (SHADOWDIFF_LOG_FORMAT) must be json or text"},
		{[]string{"--log-level", "loud"}, nil, "log-level"},
		{[]string{"--max-recv-bytes", "12XB"}, nil, "not a size in bytes"},
		{[]string{"--max-recv-bytes", "100"}, nil, "at least 1KiB"},
		{[]string{"--pair-window", "0s", "--min-samples", "0"}, nil, "--min-samples (SHADOWDIFF_MIN_SAMPLES) must be positive"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{nil, map[string]string{"SHADOWDIFF_MAX_PENDING": "lots"}, `environment SHADOWDIFF_MAX_PENDING="lots"`},
		{[]string{"--auto-template-threshold", "-1"}, nil, "--auto-template-threshold (SHADOWDIFF_AUTO_TEMPLATE_THRESHOLD) must be between 0 (no learning) and 10000, got -1"},
		{[]string{"--auto-template-threshold", "10001"}, nil, "--auto-template-threshold (SHADOWDIFF_AUTO_TEMPLATE_THRESHOLD) must be between 0 (no learning) and 10000, got 10001"},
		{nil, map[string]string{"SHADOWDIFF_MAX_ENDPOINTS": "-5"}, "--max-endpoints (SHADOWDIFF_MAX_ENDPOINTS) must not be negative (0: no limit), got -5"},
		{[]string{"--max-endpoints", "many"}, nil, `--max-endpoints "many": not an integer`},
	} {
		_, err := parseConfig(c.args, env(c.env))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseConfig(%q, %v) = %v, want an error containing %q", c.args, c.env, err, c.want)
		}
	}
}

func TestHelpNamesEveryFlagAndVariable(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--help"}, env(nil), &out, io.Discard); code != 0 {
		t.Fatalf("--help exit code %d, want 0", code)
	}
	for _, name := range []string{"grpc-addr", "http-addr", "data-dir", "pair-window", "max-pending", "retention",
		"samples-per-field", "confidence", "min-samples", "auto-template-threshold", "max-endpoints", "max-batch-digests", "max-recv-bytes", "tls-cert", "tls-key",
		"tls-client-ca", "log-level", "log-format", "shutdown-timeout"} {
		if !strings.Contains(out.String(), "--"+name+" ") || !strings.Contains(out.String(), envName(name)) {
			t.Errorf("--help does not explain --%s with %s:\n%s", name, envName(name), out.String())
		}
	}
}

// The usage goes to stdout (collector --help | less), and only on --help.
func TestHelpGoesToStdout(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		var stdout, stderr bytes.Buffer
		code := run([]string{arg}, env(nil), &stdout, &stderr)
		if code != 0 || !strings.HasPrefix(stdout.String(), "Usage: collector") || stderr.Len() != 0 {
			t.Errorf("%s: exit code %d, stdout %.40q, stderr %.40q; want 0 and the usage on stdout only", arg, code, stdout.String(), stderr.String())
		}
	}
}

// The command line wins over the environment: --help over a bad variable,
// a flag over a bad variable of its own, and an unknown flag is reported as
// such rather than as the variable.
func TestCommandLineWinsOverBadEnvironment(t *testing.T) {
	bad := env(map[string]string{"SHADOWDIFF_MAX_PENDING": ""})
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, bad, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "Usage: collector") {
		t.Errorf("--help with a bad variable: exit code %d, stdout %.40q, stderr %.80q", code, stdout.String(), stderr.String())
	}
	if c, err := parseConfig([]string{"--max-pending", "5"}, bad); err != nil || c.maxPending != 5 {
		t.Errorf("a flag over its bad variable: %v, %v", c, err)
	}
	if _, err := parseConfig([]string{"--bogus"}, bad); err == nil || !strings.Contains(err.Error(), "-bogus") {
		t.Errorf("an unknown flag with a bad variable: %v, want the flag named", err)
	}
	if _, err := parseConfig(nil, bad); err == nil || !strings.Contains(err.Error(), "SHADOWDIFF_MAX_PENDING is set but empty") {
		t.Errorf("a bad variable alone: %v", err)
	}
}

// A bad setting gets one line per problem and a hint on stderr, exit code
// 2: not the usage, whose 60 lines would hide the problem.
func TestBadSettingIsOneLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "collector: flag provided but not defined: -bogus\n"},
		{[]string{"--retention", "1w"}, "collector: --retention \"1w\": not a duration (like 90s, 5m or 168h)\n"},
		{[]string{"--confidence", "1"}, "collector: --confidence (SHADOWDIFF_CONFIDENCE) must be between 0 and 1 (exclusive), got 1\n"},
		{[]string{"--grpc-addr", "", "--data-dir", ""}, "collector: --grpc-addr (SHADOWDIFF_GRPC_ADDR) must not be empty\ncollector: --data-dir (SHADOWDIFF_DATA_DIR) must not be empty\n"},
		{[]string{"extra"}, "collector: unexpected argument \"extra\": the collector takes flags only\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, env(nil), &stdout, &stderr)
		want := c.want + "run 'collector --help' for usage\n"
		if code != 2 || stdout.Len() != 0 || stderr.String() != want {
			t.Errorf("%q: exit code %d, stdout %q, stderr\n%s\nwant exit code 2, nothing on stdout, stderr\n%s", c.args, code, stdout.String(), stderr.String(), want)
		}
	}
}

// A refused value is quoted as given, with what was wanted: not the part
// the parser had left ("3" of 3GiB, "16M" of 16MB), nor "parse error".
func TestRefusedValueIsQuotedAsGiven(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--max-recv-bytes", "3GiB"}, nil, `--max-recv-bytes "3GiB": too large (at most 2147483647 bytes: 2GiB less one)`},
		{[]string{"--max-recv-bytes", "16MB"}, nil, `--max-recv-bytes "16MB": not a size in bytes: a number, or one with KiB, MiB or GiB (like 16MiB)`},
		{[]string{"--max-pending", "lots"}, nil, `--max-pending "lots": not an integer`},
		{[]string{"--max-pending", "99999999999999999999"}, nil, `--max-pending "99999999999999999999": out of range`},
		{[]string{"--pair-window", "30"}, nil, `--pair-window "30": not a duration (like 90s, 5m or 168h)`},
		{[]string{"--confidence", "high"}, nil, `--confidence "high": not a number`},
		{[]string{"--log-level", "loud"}, nil, `--log-level "loud": not a log level (debug, info, warn or error)`},
		{nil, map[string]string{"SHADOWDIFF_MAX_RECV_BYTES": "3GiB"}, `environment SHADOWDIFF_MAX_RECV_BYTES="3GiB": too large (at most 2147483647 bytes: 2GiB less one)`},
		{nil, map[string]string{"SHADOWDIFF_SHUTDOWN_TIMEOUT": "20"}, `environment SHADOWDIFF_SHUTDOWN_TIMEOUT="20": not a duration (like 90s, 5m or 168h)`},
	} {
		_, err := parseConfig(c.args, env(c.env))
		if err == nil || err.Error() != c.want {
			t.Errorf("parseConfig(%q, %v) = %v\nwant %s", c.args, c.env, err, c.want)
		}
	}
}

// Every value validate accepts, the engine and the server accept: the
// smallest of each starts the collector. And --retention is refused below
// the engine's minimum before the data directory is created.
func TestLimitsAgreeWithEngine(t *testing.T) {
	startCollector(t, "--pair-window", "1ns", "--max-pending", "1", "--retention", engine.MinRetention.String(),
		"--samples-per-field", "1", "--confidence", "0.000001", "--min-samples", "1",
		"--auto-template-threshold", "0", "--max-endpoints", "0",
		"--max-batch-digests", "1", "--max-recv-bytes", "1KiB")
	startCollector(t, "--confidence", "0.999999", "--max-recv-bytes", "2047MiB",
		"--auto-template-threshold", fmt.Sprint(engine.MaxAutoTemplateThreshold), "--max-endpoints", "1")

	if e, err := engine.Open(t.TempDir(), engine.Options{Retention: engine.MinRetention - time.Nanosecond}); err == nil {
		e.Close()
		t.Errorf("engine.Open accepts a retention of %s: lower engine.MinRetention", engine.MinRetention-time.Nanosecond)
	}
	dir := filepath.Join(t.TempDir(), "data")
	var stderr bytes.Buffer
	code := run([]string{"--retention", "59s", "--data-dir", dir}, env(nil), io.Discard, &stderr)
	want := "collector: --retention (SHADOWDIFF_RETENTION) must be at least 1m0s, got 59s\n"
	if code != 2 || !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("--retention 59s: exit code %d, stderr %q; want 2 and %q", code, stderr.String(), want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("--retention 59s: the data directory was created (%v)", err)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]byteSize{"1024": 1024, "16MiB": 16 << 20, "512 KiB": 512 << 10, "1GiB": 1 << 30, "2048B": 2048, "2047MiB": 2047 << 20} {
		var b byteSize
		if err := b.Set(in); err != nil || b != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "2GiB", "3GiB", "16MB"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) = %d, want an error", in, b)
		}
	}
}

// JSON logs write durations as the flags take them, not as nanoseconds.
func TestJSONLogDurationsAreText(t *testing.T) {
	var buf bytes.Buffer
	newLogger(&config{logLevel: slog.LevelInfo, logFormat: "json"}, &buf).Info("x", "timeout", 20*time.Second)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["timeout"] != "20s" {
		t.Errorf("timeout logged as %v, want \"20s\"", line["timeout"])
	}
}

// --console-read-only is an on/off flag: alone it means true, and the flag
// after it is not taken for its value. Where client certificates are
// required it is on unless turned off.
func TestConsoleReadOnly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want bool
	}{
		{nil, nil, false},
		{[]string{"--console-read-only", "--data-dir", "x"}, nil, true},
		{[]string{"--console-read-only=false"}, nil, false},
		{nil, map[string]string{"SHADOWDIFF_CONSOLE_READ_ONLY": "true"}, true},
		{[]string{"--tls-cert", "c", "--tls-key", "k", "--tls-client-ca", "ca"}, nil, true},
		{[]string{"--tls-cert", "c", "--tls-key", "k", "--tls-client-ca", "ca", "--console-read-only=false"}, nil, false},
		{[]string{"--tls-cert", "c", "--tls-key", "k", "--tls-client-ca", "ca"}, map[string]string{"SHADOWDIFF_CONSOLE_READ_ONLY": "false"}, false},
	} {
		c, err := parseConfig(tc.args, env(tc.env))
		if err != nil || c.consoleReadOnly != tc.want || (len(tc.args) > 2 && tc.args[1] == "--data-dir" && c.dataDir != "x") {
			t.Errorf("%v %v: read-only %v, %v; want %v", tc.args, tc.env, c != nil && c.consoleReadOnly, err, tc.want)
		}
	}
	if _, err := parseConfig([]string{"--console-read-only=maybe"}, env(nil)); err == nil || !strings.Contains(err.Error(), `--console-read-only "maybe": not true or false`) {
		t.Errorf("--console-read-only=maybe: %v", err)
	}
}

// --version prints one line on stdout and exits 0, whatever else is set:
// it is a question, like --help, and has no environment variable.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-version"}, {"--min-samples", "5", "--version"}} {
		var stdout, stderr bytes.Buffer
		code := run(args, env(map[string]string{"SHADOWDIFF_MIN_SAMPLES": "many", "SHADOWDIFF_VERSION": "x"}), &stdout, &stderr)
		if code != 0 || !strings.HasPrefix(stdout.String(), "collector ") || strings.Count(stdout.String(), "\n") != 1 ||
			!strings.Contains(stdout.String(), runtime.Version()) || stderr.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and the version line", args, code, stdout.String(), stderr.String())
		}
	}
	// SHADOWDIFF_VERSION is not a flag's variable: it does not stop the collector.
	if c, err := parseConfig(nil, env(map[string]string{"SHADOWDIFF_VERSION": "true"})); err != nil || c.version {
		t.Errorf("SHADOWDIFF_VERSION=true: %v, version %v; want it ignored", err, c != nil && c.version)
	}
	var out bytes.Buffer
	run([]string{"--help"}, env(nil), &out, io.Discard)
	if !strings.Contains(out.String(), "  --version\n") {
		t.Errorf("--help does not list --version:\n%s", out.String())
	}
}
