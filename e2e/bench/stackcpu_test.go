package bench

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/stack"
)

// cpuUse is CPU time used so far: by one stack's processes per executable
// (sidecar, collector, sampleapp), by this test process (the load
// generator) and by the whole machine.
type cpuUse struct {
	at     time.Time
	byComm map[string]time.Duration
	// otherStacks is the CPU of this process's other children: the
	// stacks of the other modes, idle but for their timers and background
	// work.
	otherStacks time.Duration
	client      time.Duration
	machine     time.Duration
}

// measureCPU reads the CPU used by the processes of the stack of mode.
func measureCPU(b *testing.B, st *stack.Stack, mode string) cpuUse {
	b.Helper()
	u := cpuUse{at: time.Now(), byComm: map[string]time.Duration{}}
	kids, err := Children(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(env.work, mode) + string(filepath.Separator)
	var addrs []string
	for _, u := range st.AppURLs {
		addrs = append(addrs, strings.TrimPrefix(u, "http://"))
	}
	for _, p := range kids {
		if slices.ContainsFunc(p.Args, func(a string) bool { return strings.HasPrefix(a, dir) || slices.Contains(addrs, a) }) {
			u.byComm[p.Comm] += p.CPUTime
		} else {
			u.otherStacks += p.CPUTime
		}
	}
	self, err := ReadProc(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	u.client = self.CPUTime
	if u.machine, err = MachineBusy(); err != nil {
		b.Fatal(err)
	}
	return u
}

// cpuReport turns the CPU used between two measures into metrics: per
// request for each part; the cores the other modes' stacks used meanwhile;
// and the cores everything else on the machine kept busy (other users,
// steal), which says how noisy the run was.
func cpuReport(b *testing.B, before, after cpuUse, requests int) {
	if requests == 0 {
		return
	}
	ours := after.client - before.client
	for _, comm := range []string{"sidecar", "collector", "sampleapp"} {
		d := after.byComm[comm] - before.byComm[comm]
		ours += d
		b.ReportMetric(ms(d)/float64(requests), comm+"-cpu-ms/req")
	}
	b.ReportMetric(ms(after.client-before.client)/float64(requests), "client-cpu-ms/req")
	elapsed := after.at.Sub(before.at).Seconds()
	idle := after.otherStacks - before.otherStacks
	b.ReportMetric(idle.Seconds()/elapsed, "idle-stacks-cores")
	others := after.machine - before.machine - ours - idle
	b.ReportMetric(max(others, 0).Seconds()/elapsed, "others-cores")
}
