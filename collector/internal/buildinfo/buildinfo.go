// Package buildinfo describes the running binary for --version: its module
// version and, when the build recorded them, the VCS revision and commit
// time (go build stamps them when it runs in a Git checkout).
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Info is what --version prints; -o json/yaml print it as is.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Read describes the running binary.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	return from(bi, ok)
}

func from(bi *debug.BuildInfo, ok bool) Info {
	i := Info{Version: "unknown", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if !ok {
		return i
	}
	if v := bi.Main.Version; v != "" {
		i.Version = v // "(devel)" when built from a checkout rather than a module download
	}
	if bi.GoVersion != "" {
		i.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// String is the one line --version prints for the command name:
// "shadowdiff (devel), revision 7fae062… (modified), committed 2026-…, go1.26.8 linux/amd64".
func (i Info) String(name string) string {
	var b strings.Builder
	b.WriteString(name + " " + i.Version)
	if i.Revision != "" {
		b.WriteString(", revision " + i.Revision)
		if i.Modified {
			b.WriteString(" (modified)")
		}
	}
	if i.Time != "" {
		b.WriteString(", committed " + i.Time)
	}
	b.WriteString(", " + i.GoVersion + " " + i.Platform)
	return b.String()
}
