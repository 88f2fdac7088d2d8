package envoy

import (
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// startRecordingCollector is a testenv.RecordingCollector on any port.
func startRecordingCollector(t *testing.T) *recordingCollector {
	t.Helper()
	return &recordingCollector{testenv.StartRecordingCollector(t, "127.0.0.1:0")}
}

type recordingCollector struct{ *testenv.RecordingCollector }

// await returns the digests of the pairing keys once all have arrived.
func (c *recordingCollector) await(t *testing.T, keys ...string) map[string]*shadowdiffv1.ResponseDigest {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		got := map[string]*shadowdiffv1.ResponseDigest{}
		for _, d := range c.Digests() {
			got[d.GetPairingKey()] = d
		}
		missing := 0
		for _, k := range keys {
			if got[k] == nil {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the digests %v did not reach the collector in %v (got %d)", missing, keys, guard, len(got))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// withFilterConfig replaces the shadowdiff plugin configuration of a
// sidecarBootstrap.
func withFilterConfig(t *testing.T, bootstrap, config string) string {
	t.Helper()
	const def = `'{"role":"primary","collector":{"cluster":"shadowdiff-collector"}}'`
	if !strings.Contains(bootstrap, def) {
		t.Fatal("sidecarBootstrap's plugin configuration changed")
	}
	return strings.Replace(bootstrap, def, "'"+config+"'", 1)
}
