package envoy

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
)

// After collector.timeout without an ack the filter reconnects. The stream
// it gives up on must be reset (proxy_grpc_cancel): proxy_grpc_close only
// half-closes a stream in Envoy, so against a hung collector every
// reconnect used to leave one more stream open there.
func TestAckTimeoutReconnectsLeaveNoStreamOpen(t *testing.T) {
	wasm := testenv.FilterWasm(t)
	hung := testenv.StartHungCollector(t)
	app := newRawBackend(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "application/json")
		_, _ = w.Write([]byte(`{"a":1}`))
	})
	yaml := sidecarBootstrap(app, hung.Addr, wasm)
	yaml = strings.Replace(yaml, `"collector":{"cluster":"shadowdiff-collector"}`,
		`"collector":{"cluster":"shadowdiff-collector","timeout":"200ms"},"batch":{"max_digests":1},`+
			`"reconnect":{"initial_backoff":"20ms","max_backoff":"40ms"}`, 1)
	host := &wasmHost{}
	url := startSidecar(t, yaml, host)

	const reconnects = 10
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; host.metric("shadowdiff.stream_reconnects") < reconnects; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d reconnects in 30 s", host.metric("shadowdiff.stream_reconnects"))
		}
		req, _ := http.NewRequest("GET", url+"/x", nil)
		req.Header.Set("x-request-id", "rid-"+strconv.Itoa(i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("primary response %d with a hung collector", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The resets reach the collector asynchronously: wait for them. At most
	// the stream in use stays open.
	n := hung.Open.Load()
	for end := time.Now().Add(3 * time.Second); n > 1 && time.Now().Before(end); n = hung.Open.Load() {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("after %d reconnects (%d digests dropped on ack timeout): %d streams open at the collector",
		host.metric("shadowdiff.stream_reconnects"), host.metric("shadowdiff.digests_dropped.ack_timeout"), n)
	if n > 1 {
		t.Errorf("%d streams left open at the collector after %d reconnects; want at most the current one",
			n, host.metric("shadowdiff.stream_reconnects"))
	}
}
