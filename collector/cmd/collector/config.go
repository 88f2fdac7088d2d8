package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/console"
	"github.com/shadowdiff/shadowdiff/collector/engine"
)

// envPrefix: every flag can be set with SHADOWDIFF_<FLAG_NAME_IN_UPPER_SNAKE>.
const envPrefix = "SHADOWDIFF_"

// config holds every setting of the collector.
type config struct {
	grpcAddr        string
	httpAddr        string
	dataDir         string
	pairWindow      time.Duration
	maxPending      int
	retention       time.Duration
	samplesPerField int
	confidence      float64
	minSamples      int
	autoTemplate    int
	maxEndpoints    int
	maxBatchDigests int
	maxRecvBytes    byteSize
	tlsCert         string
	tlsKey          string
	tlsClientCA     string
	consoleReadOnly bool
	consoleHosts    string
	logLevel        slog.Level
	logFormat       string
	shutdownTimeout time.Duration
	version         bool // print the version and exit
}

// parseConfig reads the flags, falling back to environment variables for
// flags not given on the command line. A variable set to the empty string
// counts as set: SHADOWDIFF_HTTP_ADDR= turns HTTP off as --http-addr ""
// does, and an empty number is an error. It prints nothing: on --help or -h
// it returns flag.ErrHelp, and the caller prints the usage.
func parseConfig(args []string, lookupEnv func(string) (string, bool)) (*config, error) {
	c := &config{}
	fs := newFlagSet(c)
	var refused error // the value fs.Parse stopped at, described
	fs.VisitAll(func(f *flag.Flag) {
		f.Value = describedValue{f.Value, f.Name, &refused}
	})

	// Environment first, so the command line wins: over a bad variable
	// too, and --help over everything.
	envErrs := map[string]error{}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == versionFlag {
			return // a question, not a setting
		}
		name := envName(f.Name)
		v, ok := lookupEnv(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			if v == "" {
				err = fmt.Errorf("environment %s is set but empty: %w (unset it for the default, %s)", name, err, f.DefValue)
			} else {
				err = fmt.Errorf("environment %s=%q: %w", name, v, err)
			}
			envErrs[f.Name] = err
		}
	})
	refused = nil // an environment variable's
	if err := fs.Parse(args); err != nil {
		if refused != nil {
			return nil, refused
		}
		return nil, err
	}
	if c.version {
		return c, nil // as --help: whatever else is set
	}
	fs.Visit(func(f *flag.Flag) { delete(envErrs, f.Name) })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) { // in the flags' order
		if err := envErrs[f.Name]; err != nil {
			errs = append(errs, err)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: the collector takes flags only", fs.Arg(0))
	}
	// Where gRPC requires client certificates, the console's writes would
	// be a way around them: read-only unless asked otherwise.
	readOnlySet := false
	fs.Visit(func(f *flag.Flag) { readOnlySet = readOnlySet || f.Name == "console-read-only" })
	if !readOnlySet {
		c.consoleReadOnly = c.tlsClientCA != ""
	}
	return c, c.validate()
}

// versionFlag prints the version; it has no environment variable.
const versionFlag = "version"

// newFlagSet defines the flags, with their defaults, on c.
func newFlagSet(c *config) *flag.FlagSet {
	c.maxRecvBytes = 16 << 20
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	fs.StringVar(&c.grpcAddr, "grpc-addr", ":9090", "`address` of the gRPC listener: ingest from the filters, the query API, health and reflection")
	fs.StringVar(&c.httpAddr, "http-addr", ":9091", "`address` of the HTTP listener: web console at /, Prometheus /metrics, /healthz (empty: no HTTP listener)")
	fs.StringVar(&c.dataDir, "data-dir", "./shadowdiff-data", "`directory` of the embedded store; created if missing")
	fs.DurationVar(&c.pairWindow, "pair-window", 30*time.Second, "how long to wait for the other digests of a request before counting it as incomplete")
	fs.IntVar(&c.maxPending, "max-pending", 100000, "most requests waiting for their other digests; beyond it the oldest are counted incomplete")
	fs.DurationVar(&c.retention, "retention", 168*time.Hour, "how long stored results and samples are kept; at least "+engine.MinRetention.String())
	fs.IntVar(&c.samplesPerField, "samples-per-field", 20, "sample requests kept per endpoint and field")
	fs.Float64Var(&c.confidence, "confidence", 0.99, "confidence (0..1) a field needs to be called a significant regression")
	fs.IntVar(&c.minSamples, "min-samples", 200, "compared requests an endpoint needs before a verdict")
	fs.IntVar(&c.autoTemplate, "auto-template-threshold", engine.DefaultAutoTemplateThreshold,
		"distinct values a path segment takes, among paths alike elsewhere, before the collector learns it as a parameter: an endpoint rule such as \"GET /products/{slug}\" (0: no learning; at most "+strconv.Itoa(engine.MaxAutoTemplateThreshold)+")")
	fs.IntVar(&c.maxEndpoints, "max-endpoints", engine.DefaultMaxEndpoints,
		"most endpoints named by their paths; requests to new ones beyond it are counted under \"METHOD {other}\" (0: no limit; endpoints of endpoint rules always count under their names)")
	fs.IntVar(&c.maxBatchDigests, "max-batch-digests", 1024, "most digests in one batch; larger batches are refused with InvalidArgument")
	fs.Var(&c.maxRecvBytes, "max-recv-bytes", "largest batch in `bytes` (a number, or with KiB/MiB/GiB); larger batches are refused with InvalidArgument, those over twice this by gRPC with ResourceExhausted")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate `file` of the gRPC listener (with --tls-key); empty: plaintext")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key `file` of --tls-cert")
	fs.StringVar(&c.tlsClientCA, "tls-client-ca", "", "PEM CA bundle `file`: require and verify client certificates (mutual TLS)")
	fs.BoolVar(&c.consoleReadOnly, "console-read-only", false, "the web console shows results but cannot create or delete noise rules (the HTTP listener has no authentication; on by default with --tls-client-ca)")
	fs.StringVar(&c.consoleHosts, "console-allowed-hosts", "", "comma-separated `hosts` the web console and /metrics answer to besides IP addresses and localhost (a guard against DNS rebinding): \"name\", \".domain\" for a domain and its subdomains, \"*\" for any; list an Ingress host or a Service name here")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "json", "log `format`: json or text")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 20*time.Second, "on SIGINT/SIGTERM, how long open calls may take to finish before they are cancelled")
	fs.BoolVar(&c.version, versionFlag, false, "print the version (module version, VCS revision and time) and exit")
	fs.Lookup("log-level").DefValue = "info"
	fs.Lookup("console-read-only").DefValue = "false, true with --tls-client-ca"
	// The flag package would print the error and the whole usage on
	// stderr; run prints one line instead, and the usage only on --help.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

func (c *config) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	// A value may come from either, so both are named.
	flagEnv := func(name string) string { return "--" + name + " (" + envName(name) + ")" }
	check(c.grpcAddr != "", "%s must not be empty", flagEnv("grpc-addr"))
	check(c.dataDir != "", "%s must not be empty", flagEnv("data-dir"))
	check(c.pairWindow > 0, "%s must be positive, got %s", flagEnv("pair-window"), c.pairWindow)
	check(c.maxPending > 0, "%s must be positive, got %d", flagEnv("max-pending"), c.maxPending)
	check(c.retention >= engine.MinRetention, "%s must be at least %s, got %s", flagEnv("retention"), engine.MinRetention, c.retention)
	check(c.samplesPerField > 0, "%s must be positive, got %d", flagEnv("samples-per-field"), c.samplesPerField)
	check(c.confidence > 0 && c.confidence < 1, "%s must be between 0 and 1 (exclusive), got %g", flagEnv("confidence"), c.confidence)
	check(c.minSamples > 0, "%s must be positive, got %d", flagEnv("min-samples"), c.minSamples)
	check(c.autoTemplate >= 0 && c.autoTemplate <= engine.MaxAutoTemplateThreshold, "%s must be between 0 (no learning) and %d, got %d",
		flagEnv("auto-template-threshold"), engine.MaxAutoTemplateThreshold, c.autoTemplate)
	check(c.maxEndpoints >= 0, "%s must not be negative (0: no limit), got %d", flagEnv("max-endpoints"), c.maxEndpoints)
	check(c.maxBatchDigests > 0, "%s must be positive, got %d", flagEnv("max-batch-digests"), c.maxBatchDigests)
	check(c.maxRecvBytes >= 1024, "%s must be at least 1KiB, got %d", flagEnv("max-recv-bytes"), c.maxRecvBytes)
	check((c.tlsCert == "") == (c.tlsKey == ""), "--tls-cert and --tls-key go together")
	check(c.tlsClientCA == "" || c.tlsCert != "", "--tls-client-ca needs --tls-cert and --tls-key")
	check(c.logFormat == "json" || c.logFormat == "text", "%s must be json or text, got %q", flagEnv("log-format"), c.logFormat)
	if err := console.CheckAllowedHosts(c.consoleOptions().AllowedHosts); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", flagEnv("console-allowed-hosts"), err))
	}
	check(c.shutdownTimeout > 0, "%s must be positive, got %s", flagEnv("shutdown-timeout"), c.shutdownTimeout)
	return errors.Join(errs...)
}

// consoleOptions are the web console's settings.
func (c *config) consoleOptions() console.Options {
	var hosts []string
	for h := range strings.SplitSeq(c.consoleHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return console.Options{ReadOnly: c.consoleReadOnly, AllowedHosts: hosts}
}

// envName is the environment variable of a flag: grpc-addr → SHADOWDIFF_GRPC_ADDR.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// printUsage writes the --help text to w.
func printUsage(w io.Writer) {
	fs := newFlagSet(&config{})
	fmt.Fprint(w, `Usage: collector [flags]

The shadowdiff collector receives response digests from the shadowdiff
filter in the primary (v1), secondary (v1) and candidate (v2) sidecars,
pairs them by request id, diffs them field by field, separates regressions
from noise, stores the results in --data-dir and serves them: gRPC query
API (used by the shadowdiff CLI), web console, Prometheus metrics.

Example:
  collector --data-dir /var/lib/shadowdiff --log-format text

Every flag can also be set with the environment variable shown; a flag on
the command line wins over the environment. A variable set to the empty
string counts: SHADOWDIFF_HTTP_ADDR= turns HTTP off as --http-addr "" does.

Memory: in a container with a memory limit, the collector sets the Go
runtime's memory limit to 90% of it (unless GOMEMLIMIT is set) and, while a
limit within the container's is in force, collects garbage at GOGC=400
(unless GOGC is set).

Flags:
`)
	fs.VisitAll(func(f *flag.Flag) {
		arg, help := flag.UnquoteUsage(f)
		switch b, ok := f.Value.(interface{ IsBoolFlag() bool }); {
		case ok && b.IsBoolFlag():
			arg = "[=true|false]" // true when given alone
		case arg == "":
			arg = "value"
		}
		if f.Name == versionFlag {
			fmt.Fprintf(w, "  --%s\n      %s\n", f.Name, help)
			return
		}
		fmt.Fprintf(w, "  --%s %s\n", f.Name, arg)
		fmt.Fprintf(w, "      %s\n", help)
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "      default %s; environment %s\n", def, envName(f.Name))
	})
}

// describedValue is a flag's Value whose refusals say what was wanted. The
// flag package reports a refused value as `invalid value "x" for flag
// -name: parse error` for a number, and the Value's error, which cannot
// know the flag, in other cases; so Set keeps its own report in refused,
// which quotes the value as given, for parseConfig to return instead.
type describedValue struct {
	flag.Value
	name    string
	refused *error
}

// IsBoolFlag is the wrapped flag's: without it the flag package would
// want a value after --console-read-only.
func (v describedValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func (v describedValue) Set(s string) error {
	err := v.Value.Set(s)
	if err == nil {
		return nil
	}
	err = describe(v.Value, s, err)
	*v.refused = fmt.Errorf("--%s %q: %w", v.name, s, err)
	return err
}

// describe says what is wrong with s, which v refused with err: for a
// number, the flag package's err is only "parse error" or "value out of range".
func describe(v flag.Value, s string, err error) error {
	g, ok := v.(flag.Getter)
	if !ok {
		return err
	}
	switch g.Get().(type) {
	case int:
		if _, err := strconv.ParseInt(s, 0, strconv.IntSize); errors.Is(err, strconv.ErrRange) {
			return errors.New("out of range")
		}
		return errors.New("not an integer")
	case float64:
		if _, err := strconv.ParseFloat(s, 64); errors.Is(err, strconv.ErrRange) {
			return errors.New("out of range")
		}
		return errors.New("not a number")
	case bool:
		return errors.New("not true or false")
	case time.Duration:
		return errors.New("not a duration (like 90s, 5m or 168h)")
	case *slog.Level:
		return errors.New("not a log level (debug, info, warn or error)")
	}
	return err
}

// byteSize is a flag value in bytes: "16777216", "16MiB", "512KiB", "1GiB".
type byteSize int

func (b *byteSize) String() string { return strconv.Itoa(int(*b)) }

func (b *byteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	// The errors do not quote s: the caller quotes the value as given,
	// with its unit (s has lost it here).
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return errors.New("not a size in bytes: a number, or one with KiB, MiB or GiB (like 16MiB)")
	}
	if n > math.MaxInt32/int64(mult) {
		return fmt.Errorf("too large (at most %d bytes: 2GiB less one)", math.MaxInt32)
	}
	*b = byteSize(n * int64(mult))
	return nil
}
