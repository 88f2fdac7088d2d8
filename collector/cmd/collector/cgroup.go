package main

import (
	"path/filepath"
	"strconv"
	"strings"
)

// containerMemoryLimit returns the memory limit of the process's cgroup:
// the smallest limit set on its cgroup and on the ancestors the cgroup
// mount shows (a pod's limit may sit on the parent of the container's
// cgroup). cgroup v2 first, then v1's memory controller; ok is false when
// neither has a limit. Paths come from /proc/self/cgroup and
// /proc/self/mountinfo, as the kernel documents, not fixed locations: a
// v1 mount often shows the hierarchy's root, whose limit is "unlimited".
func containerMemoryLimit(readFile func(string) ([]byte, error)) (int64, bool) {
	cgroups, err := readFile("/proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	mounts, err := readFile("/proc/self/mountinfo")
	if err != nil {
		return 0, false
	}
	v2, v1 := cgroupPaths(string(cgroups))
	for _, h := range []struct {
		path, fstype, controller, file string
	}{
		{v2, "cgroup2", "", "memory.max"},
		{v1, "cgroup", "memory", "memory.limit_in_bytes"},
	} {
		if h.path == "" {
			continue
		}
		root, point, ok := cgroupMount(string(mounts), h.fstype, h.controller)
		if !ok {
			continue
		}
		if limit, ok := smallestLimit(readFile, root, point, h.path, h.file); ok {
			return limit, true
		}
	}
	return 0, false
}

// cgroupPaths reads /proc/self/cgroup: the v2 path ("0::/path") and the
// path of v1's memory controller ("4:memory:/path").
func cgroupPaths(data string) (v2, v1 string) {
	for _, line := range strings.Split(data, "\n") {
		id, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		controllers, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		switch {
		case id == "0" && controllers == "":
			v2 = path
		case hasItem(controllers, "memory"):
			v1 = path
		}
	}
	return v2, v1
}

// cgroupMount finds the mount of a cgroup hierarchy in mountinfo: the
// cgroup path it shows as its root, and where it is mounted.
func cgroupMount(data, fstype, controller string) (root, point string, ok bool) {
	for _, line := range strings.Split(data, "\n") {
		pre, post, found := strings.Cut(line, " - ")
		if !found {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || g[0] != fstype {
			continue
		}
		if controller != "" && !hasItem(g[2], controller) {
			continue
		}
		return f[3], f[4], true
	}
	return "", "", false
}

// smallestLimit reads file in the directory of the cgroup path (as seen
// from a mount of root at point) and in each parent up to the mount.
func smallestLimit(readFile func(string) ([]byte, error), root, point, path, file string) (int64, bool) {
	rel, ok := strings.CutPrefix(path, root)
	if !ok {
		// Another cgroup namespace: the mount shows our cgroup as its root.
		rel = ""
	}
	dir := filepath.Join(point, rel)
	var best int64
	for {
		if data, err := readFile(filepath.Join(dir, file)); err == nil {
			if n, ok := parseCgroupLimit(data); ok && (best == 0 || n < best) {
				best = n
			}
		}
		if dir == point || !strings.HasPrefix(dir, point) {
			break
		}
		dir = filepath.Dir(dir)
	}
	return best, best > 0
}

// parseCgroupLimit reads a memory limit file: "max" (v2) or a value
// near the maximum int64 (v1) mean no limit.
func parseCgroupLimit(data []byte) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0, false
	}
	return n, true
}

func hasItem(list, item string) bool {
	for _, s := range strings.Split(list, ",") {
		if s == item {
			return true
		}
	}
	return false
}
