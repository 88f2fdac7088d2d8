package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFrom(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.1.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "7fae0623c1ab"}, {Key: "vcs.time", Value: "2026-11-20T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	want := "shadowdiff v0.1.0, revision 7fae0623c1ab (modified), committed 2026-11-20T10:00:00Z, go1.26.8 " + platform
	if got := from(bi, true).String("shadowdiff"); got != want {
		t.Errorf("String = %q\nwant       %q", got, want)
	}
	bare := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}
	if got, want := from(bare, true).String("collector"), "collector (devel), go1.26.8 "+platform; got != want {
		t.Errorf("without VCS stamps: %q, want %q", got, want)
	}
	if got := from(nil, false); got.Version != "unknown" || got.GoVersion != runtime.Version() {
		t.Errorf("without build info: %+v", got)
	}
}
