package envoy

import (
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// TestRealFilterDigestsAfterTheResponse: Envoy calls proxy_on_done when it
// destroys the stream, in the event-loop iteration that handed the
// response's last bytes to the connection and before the socket write, so
// the digest must not be computed there. With one digest per batch, a
// digest is sent the moment it is computed: through the real filter.wasm,
// that happens from the root's proxy_on_tick, never from proxy_on_done or
// another stream callback, and the digest is whole.
func TestRealFilterDigestsAfterTheResponse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and compiles filter.wasm")
	}
	wasm := testenv.FilterWasm(t)
	coll := startRecordingCollector(t)
	body := testenv.JSONBody(256 << 10)
	app := newRawBackend(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	var mu sync.Mutex
	sentFrom := map[string]int{}
	host := &wasmHost{observe: func(guest, hostFn string) {
		if hostFn == "proxy_grpc_send" {
			mu.Lock()
			sentFrom[guest]++
			mu.Unlock()
		}
	}}
	cfg := `{"role":"primary","collector":{"cluster":"shadowdiff-collector"},"batch":{"max_digests":1}}`
	url := startSidecar(t, withFilterConfig(t, sidecarBootstrap(app, coll.Addr, wasm), cfg), host)
	keys := []string{"after-1", "after-2", "after-3", "after-4"}
	for _, key := range keys {
		req, _ := http.NewRequest(http.MethodGet, url+"/report", nil)
		req.Header.Set("X-Request-Id", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != int64(len(body)) {
			t.Fatalf("%s: %d of %d bytes", key, n, len(body))
		}
	}
	ds := coll.await(t, keys...)
	for _, k := range keys {
		if d := ds[k]; d.GetSkip() != 0 || d.GetBody().GetKind() != shadowdiffv1.BodyKind_BODY_KIND_JSON || d.GetBody().GetDecodedSize() != uint64(len(body)) {
			t.Errorf("%s: skip %v body %v, %d bytes", k, d.GetSkip(), d.GetBody().GetKind(), d.GetBody().GetDecodedSize())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for guest, n := range sentFrom {
		if guest != "proxy_on_tick" && guest != "proxy_on_grpc_receive" {
			t.Errorf("%d batches sent from %s: the digest was computed on the stream's path (all sends: %v)", n, guest, sentFrom)
		}
	}
	if sentFrom["proxy_on_tick"] == 0 {
		t.Errorf("no batch sent from proxy_on_tick: %v", sentFrom)
	}
}
