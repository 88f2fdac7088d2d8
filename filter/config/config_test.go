package config

import (
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/server"
)

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(`{"role":"candidate"}`))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.Collector.Cluster != d.Collector.Cluster || c.Batch.MaxDigests != 64 || time.Duration(c.Batch.FlushInterval) != time.Second ||
		!c.RestoreAuthority || c.PairingHeader != "x-request-id" {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestParseFull(t *testing.T) {
	c, err := Parse([]byte(`{
	  "role": "primary",
	  "collector": {"cluster": "outbound|9090||shadowdiff-collector.shadowdiff.svc.cluster.local", "timeout": "2s"},
	  "workload": {"name": "shop", "namespace": "demo", "version": "v1"},
	  "pairing_header": "X-Request-Id",
	  "restore_authority": false,
	  "side_effects": {"allow_methods": ["post"], "allow_paths": ["/search"], "local_reply_status": 202},
	  "body": {"max_body_bytes": 2048, "max_decoded_bytes": 8192, "max_fields": 10},
	  "headers": {"exclude": ["Date", "x-trace"]},
	  "raw_fields": ["body.user", "headers.cache-control"],
	  "redact": ["body.user.email"],
	  "hash_key": "0123456789abcdef0123",
	  "batch": {"max_digests": 10, "max_bytes": 4096, "flush_interval": "250ms"},
	  "queue": {"max_digests": 100, "max_bytes": 65536},
	  "reconnect": {"initial_backoff": "100ms", "max_backoff": "5s"}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.RestoreAuthority || c.SideEffects.AllowMethods[0] != "POST" || c.PairingHeader != "x-request-id" || c.Headers.Exclude[0] != "date" {
		t.Errorf("not normalized: %+v", c)
	}
	for field, want := range map[string]bool{
		"body.user": true, "body.user.tier": true, "body.user[]": true, "body.username": false,
		"body.user.email": false, "body.user.email.x": false, "headers.cache-control": true, "headers.etag": false,
	} {
		if got := c.RawAllowed(field); got != want {
			t.Errorf("RawAllowed(%q) = %v", field, got)
		}
	}
}

// Header names are case-insensitive and RawAllowed is asked about the
// lower-case names Envoy passes: a mixed-case redact entry must still redact.
// JSON keys are case-sensitive, so body paths keep their case.
func TestRawFieldsHeaderNamesIgnoreCase(t *testing.T) {
	c, err := Parse([]byte(`{"role":"primary",
	  "raw_fields":["headers.x-user-email","headers.Cache-Control","body.User"],
	  "redact":["headers.X-User-Email","body.User.Email"]}`))
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]bool{
		"headers.x-user-email": false, "headers.cache-control": true,
		"body.User.tier": true, "body.user.tier": false, "body.User.Email": false, "body.User.email": true,
	} {
		if got := c.RawAllowed(field); got != want {
			t.Errorf("RawAllowed(%q) = %v, want %v (raw_fields %q, redact %q)", field, got, want, c.RawFields, c.Redact)
		}
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	for in, field := range map[string]string{
		``:                                 "role",
		`{}`:                               "role",
		`{"role":"canary"}`:                "role",
		`{"role":"primary","colector":{}}`: "colector",
		`{"role":"primary","collector":{"cluster":""}}`:                              "collector.cluster",
		`{"role":"primary","collector":{"timeout":"soon"}}`:                          "collector.timeout",
		`{"role":"primary","collector":{"timeout":5}}`:                               "collector.timeout",
		`{"role":"primary","side_effects":{"allow_methods":["GET","a b"]}}`:          "side_effects.allow_methods[1]",
		`{"role":"primary","side_effects":{"allow_paths":["x"]}}`:                    "side_effects.allow_paths[0]",
		`{"role":"primary","side_effects":{"local_reply_status":99}}`:                "side_effects.local_reply_status",
		`{"role":"primary","body":{"max_body_bytes":"big"}}`:                         "body.max_body_bytes",
		`{"role":"primary","body":{"max_fields":0}}`:                                 "body.max_fields",
		`{"role":"primary","raw_fields":["user.tier"]}`:                              "raw_fields[0]",
		`{"role":"primary","hash_key":"short"}`:                                      "hash_key",
		`{"role":"primary","batch":{"max_digests":100000}}`:                          "batch.max_digests",
		`{"role":"primary","batch":{"max_digests":1025}}`:                            "batch.max_digests",
		`{"role":"primary","shadow_header":"X-Request-Id"}`:                          "shadow_header",
		`{"role":"primary","pairing_header":"x-trace","shadow_header":"x-trace"}`:    "shadow_header",
		`{"role":"primary","shadow_header":"Content-Length"}`:                        "shadow_header",
		`{"role":"primary","shadow_header":"host"}`:                                  "shadow_header",
		`{"role":"primary","queue":{"max_digests":1}}`:                               "queue.max_digests",
		`{"role":"primary","queue":{"max_digests":1048577}}`:                         "queue.max_digests",
		`{"role":"primary","queue":{"max_digests":9000000000000000000}}`:             "queue.max_digests",
		`{"role":"primary","queue":{"max_bytes":1024}}`:                              "queue.max_bytes",
		`{"role":"primary","queue":{"max_bytes":1073741825}}`:                        "queue.max_bytes",
		`{"role":"primary","queue":{"max_bytes":9000000000000000000}}`:               "queue.max_bytes",
		`{"role":"primary","reconnect":{"max_backoff":"1ms"}}`:                       "reconnect.max_backoff",
		`{"role":"primary","reconnect":{"max_backoff":"2500000h"}}`:                  "reconnect.max_backoff",
		`{"role":"primary","reconnect":{"max_backoff":"61m"}}`:                       "reconnect.max_backoff",
		`{"role":"primary","reconnect":{"initial_backoff":"2h","max_backoff":"3h"}}`: "reconnect.initial_backoff",
		`{"role":"primary","reconnect":{"initial_backoff":"0s"}}`:                    "reconnect.initial_backoff",
		`{"role":"primary","collector":{"timeout":"301s"}}`:                          "collector.timeout",
		`{"role":"primary","collector":{"timeout":"-1s"}}`:                           "collector.timeout",
		`{"role":"primary","headers":{"include":["bad header"]}}`:                    "headers.include[0]",
		`{"role":"primary","restore_authority":"yes"}`:                               "restore_authority",
		`[1]`:                                   "",
		`{"role":"primary","role":"candidate"}`: "role",
		`{"role":"primary","body":{"max_fields":10,"max_fields":20}}`: "body.max_fields",
		`{"role":"primary",}`:                                                  "",
		`{"role":"primary","assume_shadow":true}`:                              "assume_shadow",
		`{"role":"primary","collector":{"cluster":"outbound|9090||"}}`:         "collector.authority",
		`{"role":"primary","collector":{"cluster":"inbound|9090||"}}`:          "collector.authority",
		`{"role":"primary","collector":{"cluster":"my cluster"}}`:              "collector.authority",
		`{"role":"primary","collector":{"authority":"a|b"}}`:                   "collector.authority",
		`{"role":"primary","collector":{"authority":"host:port"}}`:             "collector.authority",
		`{"role":"primary","collector":{"authority":"user@host"}}`:             "collector.authority",
		`{"role":"primary","collector":{"cluster":"outbound|90x||collector"}}`: "collector.authority",
	} {
		_, err := Parse([]byte(in))
		if err == nil {
			t.Errorf("%s: no error", in)
			continue
		}
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != field {
			t.Errorf("%s: error %q, want it about field %q", in, err, field)
		}
		if !strings.HasPrefix(err.Error(), "shadowdiff plugin config: ") {
			t.Errorf("error lacks context: %q", err)
		}
	}
}

// The largest durations the config accepts: the sender's backoff arithmetic
// must not overflow on them (filter/plugin TestBackoffSaturatesWithoutOverflow).
func TestParseDurationBounds(t *testing.T) {
	c, err := Parse([]byte(`{"role":"primary","collector":{"timeout":"5m"},"reconnect":{"initial_backoff":"1h","max_backoff":"1h"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Collector.Timeout) != 5*time.Minute || time.Duration(c.Reconnect.MaxBackoff) != time.Hour {
		t.Errorf("bounds not kept: %+v", c)
	}
}

// The largest batch the filter sends must fit a collector's default limits
// (a batch over them ends the stream, and every batch after it is lost).
func TestBatchBoundsFitTheCollectorDefaults(t *testing.T) {
	if MaxBatchDigests > server.DefaultMaxBatchDigests {
		t.Errorf("batch.max_digests allows %d, the collector's --max-batch-digests defaults to %d", MaxBatchDigests, server.DefaultMaxBatchDigests)
	}
	// A batch is at most batch.max_bytes plus its header (sequence, dropped).
	if MaxBatchBytes+64 > server.DefaultMaxRecvBytes {
		t.Errorf("batch.max_bytes allows %d, the collector's --max-recv-bytes defaults to %d", MaxBatchBytes, server.DefaultMaxRecvBytes)
	}
	c, err := Parse([]byte(`{"role":"primary","batch":{"max_digests":1024,"max_bytes":4194304}}`))
	if err != nil || c.Batch.MaxDigests != MaxBatchDigests || c.Batch.MaxBytes != MaxBatchBytes {
		t.Fatalf("the largest batch is refused: %v", err)
	}
	_, err = Parse([]byte(`{"role":"primary","batch":{"max_digests":1025}}`))
	if err == nil || !strings.Contains(err.Error(), "--max-batch-digests") {
		t.Errorf("batch.max_digests 1025: error %v must name the collector's flag", err)
	}
}

// The largest queue the config accepts is kept.
func TestParseQueueBounds(t *testing.T) {
	c, err := Parse([]byte(`{"role":"primary","queue":{"max_digests":1048576,"max_bytes":1073741824}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Queue.MaxDigests != 1<<20 || c.Queue.MaxBytes != 1<<30 {
		t.Errorf("bounds not kept: %+v", c.Queue)
	}
}

// On shadows the filter sets shadow_header to "1": as the pairing header it
// would overwrite the pairing key the service and the next hops see.
func TestShadowHeaderMustDifferFromPairingHeader(t *testing.T) {
	_, err := Parse([]byte(`{"role":"candidate","pairing_header":"X-Correlation-Id","shadow_header":"x-correlation-id"}`))
	if err == nil || !strings.Contains(err.Error(), "shadow_header") || !strings.Contains(err.Error(), "pairing_header") {
		t.Errorf("error %v must name shadow_header and pairing_header", err)
	}
	if _, err := Parse([]byte(`{"role":"candidate","pairing_header":"x-correlation-id","shadow_header":"x-shadow"}`)); err != nil {
		t.Errorf("distinct headers refused: %v", err)
	}
}

// Envoy sends the cluster name as :authority when EnvoyGrpc has none, and an
// Istio cluster name is not a valid one: the peer resets the stream.
func TestCollectorAuthorityDefaultsFromIstioClusterNames(t *testing.T) {
	for cluster, want := range map[string]string{
		"outbound|9090||shadowdiff-collector.shadowdiff.svc.cluster.local": "shadowdiff-collector.shadowdiff.svc.cluster.local:9090",
		"outbound|9090|v1|collector.example":                               "collector.example:9090",
		"shadowdiff-collector":                                             "",
	} {
		c, err := Parse([]byte(`{"role":"primary","collector":{"cluster":"` + cluster + `"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if c.Collector.Authority != want {
			t.Errorf("cluster %q: authority %q, want %q", cluster, c.Collector.Authority, want)
		}
	}
	c, err := Parse([]byte(`{"role":"primary","collector":{"cluster":"outbound|9090||a.b","authority":"collector:9090"}}`))
	if err != nil || c.Collector.Authority != "collector:9090" {
		t.Errorf("an explicit authority must be kept: %v, %v", c, err)
	}
}

func TestValidAuthority(t *testing.T) {
	for s, want := range map[string]bool{
		"collector": true, "collector.ns.svc.cluster.local:9090": true, "[fd00::1]:9090": true, "[fd00::1]": true,
		"c_1~x:1": true, "": false, "host:": false, "host:0": false, "host:65536": false, "host:+1": false,
		"user@host": false, "a,b": false, "a|b": false, "[x]": false, "fd00::1:9090": false, ":9090": false, "h:1:2": false,
	} {
		if got := validAuthority(s); got != want {
			t.Errorf("validAuthority(%q) = %v, want %v", s, got, want)
		}
	}
	if got := istioAuthority("outbound|9090||fd00::1"); got != "[fd00::1]:9090" {
		t.Errorf("IPv6 host: %q", got)
	}
}
