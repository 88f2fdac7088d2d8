package main

import (
	"io/fs"
	"math"
	"testing"
)

// fakeFiles reads from a map; anything else does not exist.
func fakeFiles(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if v, ok := m[name]; ok {
			return []byte(v), nil
		}
		return nil, fs.ErrNotExist
	}
}

const gib = 1 << 30

// v2Files is a cgroup v2 container with a private cgroup namespace (as in
// Kubernetes): its cgroup is the mount's root.
func v2Files(limit string) map[string]string {
	return map[string]string{
		"/proc/self/cgroup":         "0::/\n",
		"/proc/self/mountinfo":      "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n",
		"/sys/fs/cgroup/memory.max": limit,
	}
}

func TestContainerMemoryLimit(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"v2, private namespace", v2Files("1073741824\n"), gib},
		{"v2 without a limit", v2Files("max\n"), 0},
		{"v2, host namespace: the cgroup below the mount, its parent limited less", map[string]string{
			"/proc/self/cgroup":                           "0::/kubepods/pod1/ctr\n",
			"/proc/self/mountinfo":                        "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			"/sys/fs/cgroup/kubepods/pod1/ctr/memory.max": "max\n",
			"/sys/fs/cgroup/kubepods/pod1/memory.max":     "536870912\n",
			"/sys/fs/cgroup/kubepods/memory.max":          "8589934592\n",
		}, 512 << 20},
		{"v1 mounted at the hierarchy's root (as on this machine)", map[string]string{
			"/proc/self/cgroup": "5:devices:/\n4:memory:/process_api/abc\n0::/\n",
			"/proc/self/mountinfo": "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
				"35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes":                 "9223372036854771712\n",
			"/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes": "2147483648\n",
		}, 2 * gib},
		{"v1 mount showing the container's own cgroup", map[string]string{
			"/proc/self/cgroup":                           "4:cpu,memory:/docker/abc\n",
			"/proc/self/mountinfo":                        "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,cpu,memory\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824",
		}, gib},
		{"v1 without a limit", map[string]string{
			"/proc/self/cgroup":                           "4:memory:/\n",
			"/proc/self/mountinfo":                        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712",
		}, 0},
		{"no procfs", nil, 0},
		{"garbage in the limit file", v2Files("lots"), 0},
	}
	for _, c := range cases {
		got, ok := containerMemoryLimit(fakeFiles(c.files))
		if got != c.want || ok != (c.want > 0) {
			t.Errorf("%s: %d, %v; want %d", c.name, got, ok, c.want)
		}
	}
}

func TestPlanMemory(t *testing.T) {
	const none = math.MaxInt64
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		name    string
		env     map[string]string
		files   map[string]string
		inForce int64
		want    memoryPlan
	}{
		{"container limit", nil, v2Files("1073741824"), none, memoryPlan{limit: gib * 9 / 10, gcPercent: 400, container: gib}},
		{"no container limit", nil, v2Files("max"), none, memoryPlan{}},
		{"GOMEMLIMIT under the container's: kept, GOGC relaxed", map[string]string{"GOMEMLIMIT": "500MiB"},
			v2Files("1073741824"), 500 << 20, memoryPlan{gcPercent: 400, container: gib}},
		{"GOMEMLIMIT=off: nothing bounds the heap, GOGC kept", map[string]string{"GOMEMLIMIT": "off"},
			v2Files("1073741824"), none, memoryPlan{container: gib}},
		{"GOMEMLIMIT over the container's: GOGC kept", map[string]string{"GOMEMLIMIT": "8GiB"},
			v2Files("1073741824"), 8 * gib, memoryPlan{container: gib}},
		{"GOGC set: kept", map[string]string{"GOGC": "100"}, v2Files("1073741824"), none,
			memoryPlan{limit: gib * 9 / 10, container: gib}},
		{"GOMEMLIMIT without a container limit", map[string]string{"GOMEMLIMIT": "2GiB"}, nil, 2 * gib,
			memoryPlan{gcPercent: 400}},
	}
	for _, c := range cases {
		if got := planMemory(env(c.env), fakeFiles(c.files), c.inForce); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
