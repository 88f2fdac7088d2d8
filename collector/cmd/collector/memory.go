package main

import (
	"log/slog"
	"math"
	"runtime/debug"
)

// The collector keeps pending digests in memory. In a container with a
// memory limit, the Go runtime does not know the limit: with the default
// GOGC=100 a live heap over half the limit already makes the heap grow past
// it (OOMKilled). So, unless the operator set GOMEMLIMIT, the collector sets
// the runtime's soft memory limit to limitShare of the container's limit;
// and with a memory limit in force, unless GOGC is set, it collects less
// often (relaxedGCPercent): the limit, not GOGC, then bounds the heap, and
// ingest spends less CPU in the GC (+20% digests per CPU-second when the
// GC's share was larger; +6%, within the noise, since, and none with
// 50,000 requests waiting: docs/BENCHMARKS.md sections 7 to 9). The cost:
// once the live heap passes about a fifth of the limit, the heap grows to
// the limit, leaving the page cache (the store's mapped file) the last
// tenth; set GOGC to trade CPU back for it.
const (
	limitShare       = 0.9
	relaxedGCPercent = 400
)

// memoryPlan is what planMemory decided; zero fields leave the runtime as is.
type memoryPlan struct {
	limit     int64 // bytes for debug.SetMemoryLimit
	gcPercent int   // for debug.SetGCPercent
	container int64 // the container's limit, when one was found
}

// planMemory decides what to change from the environment, the cgroup
// files (read with readFile) and the memory limit in force (inForce, as
// debug.SetMemoryLimit(-1) reports it: math.MaxInt64 for none). GOGC is
// relaxed only under a limit that bounds the heap within the container:
// not with GOMEMLIMIT=off, nor with one above the container's limit.
func planMemory(getenv func(string) string, readFile func(string) ([]byte, error), inForce int64) memoryPlan {
	var p memoryPlan
	if n, ok := containerMemoryLimit(readFile); ok {
		p.container = n
	}
	effective := inForce
	if getenv("GOMEMLIMIT") == "" && p.container > 0 {
		p.limit = int64(float64(p.container) * limitShare)
		effective = p.limit
	}
	bounded := effective < math.MaxInt64 && (p.container == 0 || effective <= p.container)
	if bounded && getenv("GOGC") == "" {
		p.gcPercent = relaxedGCPercent
	}
	return p
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
