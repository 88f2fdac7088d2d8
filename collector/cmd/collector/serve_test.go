package main

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/shadowdiff/shadowdiff/collector/internal/testpki"
)

type addrs struct{ grpc, http net.Addr }

// startCollector runs serve in-process on loopback ports and returns its
// addresses and a function that stops it and returns serve's error.
func startCollector(t *testing.T, args ...string) (addrs, func() error) {
	t.Helper()
	return startLogged(t, slog.New(slog.DiscardHandler), args...)
}

// startLogged is startCollector logging to log.
func startLogged(t *testing.T, log *slog.Logger, args ...string) (addrs, func() error) {
	t.Helper()
	cfg, err := parseConfig(append([]string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--data-dir", t.TempDir()}, args...), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, log, func() {}, func(g, h net.Addr) { ready <- addrs{g, h} })
	}()
	select {
	case a := <-ready:
		stopped := false
		stop := func() error {
			if stopped {
				return nil
			}
			stopped = true
			cancel()
			return <-done
		}
		t.Cleanup(func() { stop() })
		return a, stop
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
		return addrs{}, nil
	}
}

func checkHealth(ctx context.Context, addr string, creds credentials.TransportCredentials) (healthpb.HealthCheckResponse_ServingStatus, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return resp.GetStatus(), err
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestServeAndShutdown(t *testing.T) {
	a, stop := startCollector(t, "--pair-window", "2s", "--min-samples", "100")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if st, err := checkHealth(ctx, a.grpc.String(), insecure.NewCredentials()); err != nil || st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health = %v, %v", st, err)
	}
	base := "http://" + a.http.String()
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, "shadowdiff_server_ingest_batches_total") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d, missing the server's or Go's metrics:\n%.2000s", code, body)
	}
	if code, body := get(t, base+"/"); code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("console at / = %d %.200q", code, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after a signal", err)
	}
	if _, err := net.Dial("tcp", a.grpc.String()); err == nil {
		t.Error("gRPC listener still open after shutdown")
	}
}

func TestServeFailsOnBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg, err := parseConfig([]string{"--grpc-addr", l.Addr().String(), "--http-addr", "", "--data-dir", t.TempDir()}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = serve(context.Background(), cfg, slog.New(slog.DiscardHandler), func() {}, nil)
	if err == nil || !strings.Contains(err.Error(), "listen on --grpc-addr") {
		t.Errorf("serve on a busy port = %v, want a listen error", err)
	}
}

func TestMutualTLS(t *testing.T) {
	pki := testpki.New(t)
	a, _ := startCollector(t, "--tls-cert", pki.ServerCertFile, "--tls-key", pki.ServerKeyFile, "--tls-client-ca", pki.CAFile)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	withCert := credentials.NewTLS(&tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{pki.Client}, ServerName: "localhost"})
	if st, err := checkHealth(ctx, a.grpc.String(), withCert); err != nil || st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health with a client certificate = %v, %v", st, err)
	}
	noCert := credentials.NewTLS(&tls.Config{RootCAs: pki.Pool, ServerName: "localhost"})
	if _, err := checkHealth(ctx, a.grpc.String(), noCert); err == nil {
		t.Error("health without a client certificate succeeded; want a handshake failure")
	}
	if _, err := checkHealth(ctx, a.grpc.String(), insecure.NewCredentials()); err == nil {
		t.Error("plaintext health succeeded on a TLS listener")
	}
	// The console has no authentication: with client certificates
	// required on gRPC it does not change rules, unless asked to.
	if code, body := postRule(t, a.http.String()); code != http.StatusForbidden || !strings.Contains(body, "--console-read-only") {
		t.Errorf("a noise rule through the console of a mutual-TLS collector: %d %s, want 403", code, body)
	}
	if code, _ := get(t, "http://"+a.http.String()+"/api/noise-rules"); code != http.StatusOK {
		t.Errorf("reading rules through a read-only console: %d", code)
	}
	b, _ := startCollector(t, "--tls-cert", pki.ServerCertFile, "--tls-key", pki.ServerKeyFile, "--tls-client-ca", pki.CAFile, "--console-read-only=false")
	if code, body := postRule(t, b.http.String()); code != http.StatusOK {
		t.Errorf("a noise rule with --console-read-only=false: %d %s", code, body)
	}
	c, _ := startCollector(t)
	if code, body := postRule(t, c.http.String()); code != http.StatusOK {
		t.Errorf("a noise rule through the console of a plaintext collector: %d %s", code, body)
	}
}

// The console and the metrics answer to the hosts --console-allowed-hosts
// lists (an Ingress) and refuse other names, as a rebound DNS name would
// be; the probe answers to any. An entry that could never match is
// refused at start.
func TestConsoleAllowedHosts(t *testing.T) {
	a, _ := startCollector(t, "--console-allowed-hosts", "shadowdiff.example, .corp.example")
	for host, want := range map[string]int{
		"shadowdiff.example": http.StatusOK, "eu.corp.example": http.StatusOK, a.http.String(): http.StatusOK,
		"evil.example": http.StatusForbidden,
	} {
		for _, path := range []string{"/", "/api/endpoints", "/metrics"} {
			req, _ := http.NewRequest("GET", "http://"+a.http.String()+path, nil)
			req.Host = host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s with Host %s: %d, want %d", path, host, resp.StatusCode, want)
			}
		}
	}
	req, _ := http.NewRequest("GET", "http://"+a.http.String()+"/healthz", nil)
	req.Host = "evil.example"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz with another host: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if _, err := parseConfig([]string{"--console-allowed-hosts", "*.corp.example"}, env(nil)); err == nil ||
		!strings.Contains(err.Error(), `--console-allowed-hosts (SHADOWDIFF_CONSOLE_ALLOWED_HOSTS): "*.corp.example": write a domain and its subdomains as ".corp.example"`) {
		t.Errorf("--console-allowed-hosts *.corp.example: %v", err)
	}
}

// postRule creates a noise rule through the console's API.
func postRule(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/api/noise-rules", "application/json", strings.NewReader(`{"pathPrefix":"body.meta"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
