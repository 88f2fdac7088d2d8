package envoy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// TestRealFilterDigestsResponseTrailers: two backends answer alike but for
// a trailer, as two versions of a gRPC service differ in grpc-status
// (chunked HTTP/1 and HTTP/2 upstreams); through the real filter.wasm the
// difference reaches the digests' trailers_hash, and the same trailers hash
// alike.
func TestRealFilterDigestsResponseTrailers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and compiles filter.wasm")
	}
	wasm := testenv.FilterWasm(t)
	cache := t.TempDir()
	for _, h2 := range []bool{false, true} {
		name := "http1"
		if h2 {
			name = "http2"
		}
		t.Run(name, func(t *testing.T) { testTrailerDigests(t, wasm, cache, h2) })
	}
}

func testTrailerDigests(t *testing.T, wasm, cache string, h2 bool) {
	coll := startRecordingCollector(t)
	backend := func(status string) string {
		return newRawBackend(t, h2, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Trailer", "Grpc-Status")
			w.Write([]byte(`{"id":1}`))
			w.Header().Set("Grpc-Status", status)
		})
	}
	bootstrap := func(app string) string {
		y := sidecarBootstrap(app, coll.Addr, wasm)
		if h2 {
			const next = "\n  - name: shadowdiff-collector"
			if !strings.Contains(y, next) {
				t.Fatal("sidecarBootstrap's clusters changed")
			}
			y = strings.Replace(y, next, `
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}`+next, 1)
		}
		cfg := `{"role":"primary","collector":{"cluster":"shadowdiff-collector"},"batch":{"flush_interval":"20ms"}}`
		return withFilterConfig(t, y, cfg)
	}
	urlA := startSidecar(t, bootstrap(backend("0")), &wasmHost{cacheDir: cache})
	urlB := startSidecar(t, bootstrap(backend("13")), &wasmHost{cacheDir: cache})
	// gRPC is HTTP/2 end to end: so is the http2 case.
	client := http.DefaultClient
	if h2 {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}
	send := func(url, key string) {
		req, _ := http.NewRequest(http.MethodGet, url+"/orders/1", nil)
		req.Header.Set("X-Request-Id", key)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Trailer.Get("Grpc-Status") == "" {
			t.Fatalf("%s: the trailer did not reach the client: %v", key, resp.Trailer)
		}
	}
	send(urlA, "a-1")
	send(urlA, "a-2")
	send(urlB, "b-1")
	ds := coll.await(t, "a-1", "a-2", "b-1")
	a1, a2, b1 := ds["a-1"], ds["a-2"], ds["b-1"]
	for _, d := range []*shadowdiffv1.ResponseDigest{a1, a2, b1} {
		if d.GetSkip() != shadowdiffv1.SkipReason_SKIP_REASON_UNSPECIFIED || d.GetStatus() != 200 || d.GetBody().GetKind() != shadowdiffv1.BodyKind_BODY_KIND_JSON {
			t.Errorf("%s: skip %v status %d body %v", d.GetPairingKey(), d.GetSkip(), d.GetStatus(), d.GetBody().GetKind())
		}
	}
	if a1.GetTrailersHash() == 0 || a1.GetTrailersHash() != a2.GetTrailersHash() {
		t.Errorf("same trailers: trailers_hash %x and %x, want equal and not 0", a1.GetTrailersHash(), a2.GetTrailersHash())
	}
	if b1.GetTrailersHash() == 0 || b1.GetTrailersHash() == a1.GetTrailersHash() {
		t.Errorf("different trailers: trailers_hash %x and %x, want different and not 0", a1.GetTrailersHash(), b1.GetTrailersHash())
	}
	if a1.GetBody().GetHash() != b1.GetBody().GetHash() {
		t.Error("the backends' bodies differ: the test means to differ in the trailer only")
	}
}
