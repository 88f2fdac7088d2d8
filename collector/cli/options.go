package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// EnvCollector names the collector's address when --collector is not given.
const EnvCollector = "SHADOWDIFF_COLLECTOR"

// defaultCollector is the collector's default gRPC address (its
// --grpc-addr is :9090); defaultPort is added to an address without one.
const (
	defaultCollector = "localhost:9090"
	defaultPort      = "9090"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	getenv func(string) string

	collector          string
	timeout            time.Duration
	output             string
	tls                bool
	tlsCA              string
	tlsCert            string
	tlsKey             string
	tlsServerName      string
	insecureSkipVerify bool
}

func (o *globalOptions) addFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&o.collector, "collector", "", "gRPC address of the collector, HOST[:PORT] (port "+defaultPort+" when left out; default $"+EnvCollector+", else "+defaultCollector+")")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long one call to the collector may take")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, wide, json or yaml")
	f.BoolVar(&o.tls, "tls", false, "connect with TLS (implied by the other --tls-* flags and --insecure-skip-verify)")
	f.StringVar(&o.tlsCA, "tls-ca", "", "PEM CA bundle that signed the collector's certificate (default: the system roots)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM client certificate, for a collector started with --tls-client-ca")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&o.tlsServerName, "tls-server-name", "", "name to verify the collector's certificate against (default: the host of --collector)")
	f.BoolVar(&o.insecureSkipVerify, "insecure-skip-verify", false, "do not verify the collector's certificate (testing only)")
}

func (o *globalOptions) validate() error {
	if o.collector == "" {
		o.collector = o.getenv(EnvCollector)
	}
	if o.collector == "" {
		o.collector = defaultCollector
	}
	o.collector = withDefaultPort(o.collector)
	switch o.output {
	case "table", "wide", "json", "yaml":
	default:
		return usagef("--output must be table, wide, json or yaml, got %q", o.output)
	}
	if o.timeout <= 0 {
		return usagef("--timeout must be positive, got %s", o.timeout)
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	return nil
}

// withDefaultPort adds the collector's gRPC port to a host given without
// one: gRPC would dial port 443. Targets with a scheme (dns:///, unix:)
// are left to gRPC.
func withDefaultPort(addr string) string {
	if strings.Contains(addr, ":/") || strings.HasPrefix(addr, "unix:") {
		return addr
	}
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	if host == "" || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
		return addr // not a host: let gRPC say what is wrong with it
	}
	return net.JoinHostPort(host, defaultPort)
}

func (o *globalOptions) useTLS() bool {
	return o.tls || o.tlsCA != "" || o.tlsCert != "" || o.tlsServerName != "" || o.insecureSkipVerify
}

func (o *globalOptions) credentials() (credentials.TransportCredentials, error) {
	if !o.useTLS() {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.tlsServerName, InsecureSkipVerify: o.insecureSkipVerify}
	if o.tlsCA != "" {
		pem, err := os.ReadFile(o.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("read --tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s holds no PEM certificate", o.tlsCA)
		}
	}
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("load --tls-cert and --tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(cfg), nil
}

// client is a connection to the collector's query API.
type client struct {
	shadowdiffv1.QueryClient
	conn *grpc.ClientConn
	opts *globalOptions
}

func (o *globalOptions) dial() (*client, error) {
	creds, err := o.credentials()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(o.collector, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("collector address %q: %w", o.collector, err)
	}
	return &client{QueryClient: shadowdiffv1.NewQueryClient(conn), conn: conn, opts: o}, nil
}

// call runs one unary call with the --timeout deadline and turns its error
// into a message for people. notFound describes the name the call looked
// up, for NotFound answers; empty when the call has no such name.
func call[Resp any](ctx context.Context, c *client, notFound string, f func(context.Context) (Resp, error)) (Resp, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.timeout)
	defer cancel()
	resp, err := f(ctx)
	if err != nil {
		return resp, c.explain(err, notFound)
	}
	return resp, nil
}

// explain turns a gRPC error into a sentence that says what to do.
func (c *client) explain(err error, notFound string) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unavailable:
		if strings.Contains(st.Message(), "looked like an HTTP/1.1 header") {
			// The console's port, most likely: it speaks HTTP/1.
			return fmt.Errorf("%s answers HTTP/1, not gRPC: is it the collector's HTTP port (console, /metrics)? --collector takes its gRPC address (--grpc-addr, :9090 by default)", c.opts.collector)
		}
		return fmt.Errorf("cannot reach collector at %s: %s", c.opts.collector, st.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("collector at %s did not answer within %s (--timeout)", c.opts.collector, c.opts.timeout)
	case codes.NotFound:
		if notFound != "" {
			return requestError{notFound}
		}
		return requestError{"not found: " + st.Message()}
	case codes.InvalidArgument:
		return requestError{"the collector refused the request: " + st.Message()}
	case codes.Unimplemented:
		return fmt.Errorf("the collector at %s does not support this command (is it an older version?): %s", c.opts.collector, st.Message())
	case codes.Unauthenticated, codes.PermissionDenied:
		return fmt.Errorf("the collector at %s refused access: %s", c.opts.collector, st.Message())
	case codes.Canceled:
		return context.Canceled
	}
	return fmt.Errorf("collector at %s: %s: %s", c.opts.collector, st.Code(), st.Message())
}

// requestError is an answer about what the request named (not found,
// refused), not about the collector or the connection: a command acting on
// many names goes on with the others.
type requestError struct{ msg string }

func (e requestError) Error() string { return e.msg }

// endpointNotFound is the message for an unknown endpoint name.
func endpointNotFound(endpoint string) string {
	return fmt.Sprintf("endpoint %q not found; run `shadowdiff endpoints` to list them", endpoint)
}
