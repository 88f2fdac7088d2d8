package main

import (
	"errors"
	"io/fs"
	"testing"
)

func TestPlanMemory(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if v, ok := m[name]; ok {
				return []byte(v), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	const gib = 1 << 30
	cases := []struct {
		name  string
		env   map[string]string
		files map[string]string
		want  memoryPlan
	}{
		{"cgroup v2 limit", nil, map[string]string{"/sys/fs/cgroup/memory.max": "1073741824\n"},
			memoryPlan{limit: gib * 9 / 10, gcPercent: 400, container: gib}},
		{"cgroup v1 limit", nil, map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n"},
			memoryPlan{limit: gib * 9 / 10, gcPercent: 400, container: gib}},
		{"v2 without a limit", nil, map[string]string{"/sys/fs/cgroup/memory.max": "max\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824"}, memoryPlan{}},
		{"v1 without a limit", nil, map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712"}, memoryPlan{}},
		{"no cgroup files", nil, nil, memoryPlan{}},
		{"GOMEMLIMIT set: kept, GOGC relaxed", map[string]string{"GOMEMLIMIT": "500MiB"},
			map[string]string{"/sys/fs/cgroup/memory.max": "1073741824"}, memoryPlan{gcPercent: 400, container: gib}},
		{"GOGC set: kept", map[string]string{"GOGC": "100"},
			map[string]string{"/sys/fs/cgroup/memory.max": "1073741824"}, memoryPlan{limit: gib * 9 / 10, container: gib}},
		{"GOMEMLIMIT without a container limit", map[string]string{"GOMEMLIMIT": "2GiB"}, nil, memoryPlan{gcPercent: 400}},
		{"garbage in the file", nil, map[string]string{"/sys/fs/cgroup/memory.max": "lots"}, memoryPlan{}},
	}
	for _, c := range cases {
		if got := planMemory(env(c.env), files(c.files)); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	// A read error other than "no such file" is treated alike: no limit.
	broken := func(string) ([]byte, error) { return nil, errors.New("permission denied") }
	if got := planMemory(env(nil), broken); got != (memoryPlan{}) {
		t.Errorf("unreadable cgroup files: %+v, want no change", got)
	}
}
