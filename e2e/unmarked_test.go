package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/report"
	"github.com/shadowdiff/shadowdiff/e2e/sampleapp"
	"github.com/shadowdiff/shadowdiff/e2e/stack"
)

// TestUnmarkedMirrorsWithAssumeShadow is Istio 1.28 and later, which mirror
// without the "-shadow" Host suffix (disable_shadow_host_suffix_append):
// the shadows' filters, told assume_shadow, still digest every mirror as a
// shadow and keep its writes from the shadow services, and the collector
// compares as with marked mirrors.
func TestUnmarkedMirrorsWithAssumeShadow(t *testing.T) {
	bootstrap, err := os.ReadFile("../envoy/local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := string(bootstrap)
	for _, edit := range []struct{ old, new string }{
		{"- cluster: inbound-secondary\n", "- cluster: inbound-secondary\n                    disable_shadow_host_suffix_append: true\n"},
		{"- cluster: inbound-candidate\n", "- cluster: inbound-candidate\n                    disable_shadow_host_suffix_append: true\n"},
		{`{"role": "secondary",`, `{"role": "secondary", "assume_shadow": true,`},
		{`{"role": "candidate",`, `{"role": "candidate", "assume_shadow": true,`},
	} {
		if strings.Count(y, edit.old) != 1 {
			t.Fatalf("envoy/local.yaml changed: %q is not there once", edit.old)
		}
		y = strings.Replace(y, edit.old, edit.new, 1)
	}
	work := t.TempDir()
	config := filepath.Join(work, "unmarked.yaml")
	if err := os.WriteFile(config, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	// The bootstrap names bin/filter.wasm relative to the repository, which
	// stack.Start rewrites to its BinDir wherever the file is.
	st, err := stack.Start(context.Background(), stack.Options{
		BinDir: binDir, EnvoyConfig: config, WorkDir: work, FreePorts: true, CollectorArgs: collectorArgs,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	reqs := sampleapp.Traffic(11, 600)
	send(t, st.FrontURL, reqs)
	rep, err := report.Collect(context.Background(), queryClient(t, st), uint64(len(reqs)), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	totals := rep.Endpoints.GetTotals()
	if totals.GetCompared() == 0 || totals.GetCompared()+totals.GetSkippedSideEffect() != uint64(len(reqs)) {
		t.Errorf("compared %d, side effects %d, incomplete %d of %d sent: unmarked mirrors must be compared as marked ones are",
			totals.GetCompared(), totals.GetSkippedSideEffect(), totals.GetIncomplete(), len(reqs))
	}
	sideEffectsAnswered(t, st, reqs, totals)
	if n := stat(t, st, "wasmcustom.shadowdiff.not_digested.wrong_direction"); n != 0 {
		t.Errorf("not_digested.wrong_direction = %d, want 0", n)
	}
}
