package bench

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/sampleapp"
	"github.com/shadowdiff/shadowdiff/e2e/traffic"
)

var rates = flag.String("rates", "200,1000", "comma-separated open-loop rates (requests/s) of BenchmarkPrimaryPath")

// usersTraffic is the light route: GET /users/{id} over the sample's 1000 users.
func usersTraffic() []traffic.Request {
	reqs := make([]traffic.Request, 1000)
	for i := range reqs {
		reqs[i] = traffic.Request{Method: "GET", Path: "/users/" + strconv.Itoa((i*7919)%1000+1)}
	}
	return reqs
}

// mixTraffic is the demo's mix (sampleapp.Mix): JSON, gzip, binary, a
// 200 KiB report and side effects.
func mixTraffic() []traffic.Request { return sampleapp.Traffic(1, 20000) }

// mixNoReportTraffic is the mix without GET /report, whose 1.3 MB body
// (digested up to the 1 MiB max_body_bytes by each of the three filters)
// dominates the mix's cost.
func mixNoReportTraffic() []traffic.Request {
	var out []traffic.Request
	for _, r := range mixTraffic() {
		if r.Path != "/report" {
			out = append(out, r)
		}
	}
	return out
}

var trafficKinds = []struct {
	name string
	reqs func() []traffic.Request
}{{"users", usersTraffic}, {"mix", mixTraffic}, {"mix-noreport", mixNoReportTraffic}}

// load is one load shape: a fixed rate (open loop) or, with rate 0, as fast
// as *workers clients go (closed loop).
type load struct {
	name string
	rate float64
}

func loads(b *testing.B) []load {
	var ls []load
	for _, s := range strings.Split(*rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || r <= 0 {
			b.Fatalf("-rates: %q is not a positive rate", s)
		}
		ls = append(ls, load{name: "rate=" + strings.TrimSpace(s), rate: r})
	}
	return append(ls, load{name: "rate=max"})
}

func (l load) run(ctx context.Context, t Target, d time.Duration) (*Run, error) {
	if l.rate == 0 {
		return ClosedLoop(ctx, t, *workers, d)
	}
	return OpenLoop(ctx, t, l.rate, d)
}

// BenchmarkPrimaryPath measures what clients see through the front
// listener: sustained requests/s and the p50/p99 latency, with shadowdiff
// off (no Wasm filters, no mirrors), on (envoy/local.yaml: every request
// also mirrored to the secondary and the candidate, all three digested and
// streamed to the collector), mirrors (mirrors without the filters),
// filters (the filters without mirrors: digesting on the primary path
// alone) and direct (the primary service without any sidecar, for
// reference). Compare with benchstat -col /mode; select modes with -bench,
// e.g. 'PrimaryPath/mode=(on|off)/'.
func BenchmarkPrimaryPath(b *testing.B) {
	for _, mode := range []string{modeOff, modeOn, modeMirrors, modeFilters, "direct"} {
		for _, tk := range trafficKinds {
			for _, l := range loads(b) {
				b.Run(fmt.Sprintf("mode=%s/traffic=%s/%s", mode, tk.name, l.name), func(b *testing.B) {
					primaryPath(b, mode, tk.reqs(), l)
				})
			}
		}
	}
}

func primaryPath(b *testing.B, mode string, reqs []traffic.Request, l load) {
	stackMode, direct := mode, mode == "direct"
	if direct {
		stackMode = modeOff
	}
	st := stackFor(b, stackMode)
	ctx := b.Context()
	settle(b, st, false)
	base := st.FrontURL
	if direct {
		base = st.AppURLs["primary"]
	}
	client := NewClient(30 * time.Second)
	defer client.CloseIdleConnections()
	t := Target{Client: client, Base: base, Requests: reqs, MaxInFlight: *inflight, MaxLag: *maxLag}
	if _, err := l.run(ctx, t, *warmup); err != nil {
		b.Fatal(err)
	}
	total := &Run{}
	cpuBefore := measureCPU(b, st, stackMode)
	for range b.N {
		run, err := l.run(ctx, t, *duration)
		if err != nil {
			b.Fatal(err)
		}
		total.Samples = append(total.Samples, run.Samples...)
		total.Elapsed += run.Elapsed
	}
	if !direct {
		// What the run left in flight (mirrors, digests) is part of its cost.
		settle(b, st, false)
	}
	cpuReport(b, cpuBefore, measureCPU(b, st, stackMode), len(total.Samples))
	report(b, total)
}

// report turns a run into benchmark metrics; ns/op (a whole run) is
// dropped. failed counts transport errors, 5xx and requests not sent
// (not-sent: the open loop gave up on them, -max-lag).
func report(b *testing.B, run *Run) {
	b.Helper()
	ls := run.Latencies()
	if len(ls) == 0 {
		b.Fatalf("no request of %d succeeded: %v", len(run.Samples), firstFailure(run))
	}
	if n := run.Failed(); n > 0 {
		b.Logf("%d of %d requests failed, e.g. %v", n, len(run.Samples), firstFailure(run))
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(run.Throughput(), "req/s")
	b.ReportMetric(ms(Percentile(ls, 50)), "p50-ms")
	b.ReportMetric(ms(Percentile(ls, 99)), "p99-ms")
	b.ReportMetric(float64(run.Failed()), "failed")
	b.ReportMetric(float64(run.NotSent()), "not-sent")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func firstFailure(run *Run) string {
	for _, s := range run.Samples {
		if s.Err != nil {
			return s.Err.Error()
		}
		if s.Status >= 500 {
			return "status " + strconv.Itoa(s.Status)
		}
	}
	return "none"
}
