package main

import (
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
)

// The collector keeps pending digests in memory. In a container with a
// memory limit, the Go runtime does not know the limit: with the default
// GOGC=100 a live heap over half the limit already makes the heap grow past
// it (OOMKilled). So, unless the operator set GOMEMLIMIT, the collector sets
// the runtime's soft memory limit to limitShare of the container's limit;
// and with a memory limit in force, unless GOGC is set, it collects less
// often (relaxedGCPercent): the limit, not GOGC, then bounds the heap, and
// ingest spends less CPU in the GC (about +20% digests per CPU-second,
// docs/BENCHMARKS.md).
const (
	limitShare       = 0.9
	relaxedGCPercent = 400
)

// cgroupLimitFiles hold the container's memory limit: cgroup v2, then v1.
var cgroupLimitFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// memoryPlan is what tuneMemory decided; zero fields leave the runtime as is.
type memoryPlan struct {
	limit     int64 // bytes for debug.SetMemoryLimit
	gcPercent int   // for debug.SetGCPercent
	container int64 // the container's limit, when one was found
}

// planMemory decides from the environment and the cgroup files (read with
// readFile) what to change.
func planMemory(getenv func(string) string, readFile func(string) ([]byte, error)) memoryPlan {
	var p memoryPlan
	for _, name := range cgroupLimitFiles {
		data, err := readFile(name)
		if err != nil {
			continue
		}
		if n, ok := parseCgroupLimit(data); ok {
			p.container = n
		}
		break
	}
	limited := getenv("GOMEMLIMIT") != ""
	if !limited && p.container > 0 {
		p.limit = int64(float64(p.container) * limitShare)
		limited = true
	}
	if limited && getenv("GOGC") == "" {
		p.gcPercent = relaxedGCPercent
	}
	return p
}

// parseCgroupLimit reads a memory limit file: "max" (v2) or a value
// near the maximum int64 (v1) mean no limit.
func parseCgroupLimit(data []byte) (int64, bool) {
	s := strings.TrimSpace(string(data))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0, false
	}
	return n, true
}

// apply sets the runtime's memory limit and GC percent as planned and
// logs what it did.
func (p memoryPlan) apply(log *slog.Logger) {
	if p.limit > 0 {
		debug.SetMemoryLimit(p.limit)
	}
	if p.gcPercent > 0 {
		debug.SetGCPercent(p.gcPercent)
	}
	if p.limit > 0 || p.gcPercent > 0 {
		log.Info("go runtime memory tuned", "container_limit_bytes", p.container, "memory_limit_bytes", p.limit, "gc_percent", p.gcPercent)
	}
}
