package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/shadowdiff/shadowdiff/e2e/stack"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

var (
	verdictLoads = flag.String("verdict-background", "0,200", "comma-separated background rates (requests/s) of BenchmarkVerdict")
	probeRate    = flag.Float64("probe-rate", 10, "tagged requests/s whose verdict BenchmarkVerdict waits for")
	pollEvery    = flag.Duration("poll", 10*time.Millisecond, "how often BenchmarkVerdict asks Query.GetRequest")
)

// verdictTimeout is when a probe counts as never compared.
const verdictTimeout = 30 * time.Second

// BenchmarkVerdict sends probes (GET /users/{id} with a known x-request-id)
// at -probe-rate, alone or beside background traffic, and for each polls
// Query.GetRequest until the collector returns it compared. The latency
// runs from sending the request to the first answer that has it compared,
// so it includes up to one -poll interval of polling delay.
func BenchmarkVerdict(b *testing.B) {
	for _, s := range strings.Split(*verdictLoads, ",") {
		bg, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || bg < 0 {
			b.Fatalf("-verdict-background: %q is not a rate", s)
		}
		b.Run("background="+strings.TrimSpace(s), func(b *testing.B) {
			st := stackFor(b, modeOn)
			settle(b, st, false)
			q := queryClient(b, st)
			var all []verdict
			for i := range b.N {
				all = append(all, verdictRun(b, st, q, bg, fmt.Sprintf("bench-%d-%d-", time.Now().UnixNano(), i))...)
			}
			reportVerdicts(b, all)
		})
	}
}

func queryClient(b *testing.B, st *stack.Stack) shadowdiffv1.QueryClient {
	conn, err := grpc.NewClient(st.CollectorAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return shadowdiffv1.NewQueryClient(conn)
}

// verdict is one probe's outcome.
type verdict struct {
	latency time.Duration
	err     error // never compared: the last reason, or a transport error
}

func verdictRun(b *testing.B, st *stack.Stack, q shadowdiffv1.QueryClient, background float64, prefix string) []verdict {
	ctx := b.Context()
	client := NewClient(30 * time.Second)
	defer client.CloseIdleConnections()
	var bgDone sync.WaitGroup
	if background > 0 {
		bgDone.Add(1)
		go func() {
			defer bgDone.Done()
			t := Target{Client: client, Base: st.FrontURL, Requests: usersTraffic(), MaxInFlight: *inflight, MaxLag: *maxLag}
			if _, err := OpenLoop(ctx, t, background, *duration); err != nil && ctx.Err() == nil {
				b.Error(err)
			}
		}()
	}
	n := int(*probeRate * duration.Seconds())
	out := make([]verdict, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(float64(i) / *probeRate * float64(time.Second)))); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = probe(ctx, client, q, st.FrontURL, prefix+strconv.Itoa(i), 1+i%1000)
		}()
	}
	wg.Wait()
	bgDone.Wait()
	return out
}

// probe sends one tagged request and waits for its compared record.
func probe(ctx context.Context, client *http.Client, q shadowdiffv1.QueryClient, front, id string, user int) verdict {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, front+"/users/"+strconv.Itoa(user), nil)
	if err != nil {
		return verdict{err: err}
	}
	req.Header.Set("x-request-id", id)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return verdict{err: err}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return verdict{err: fmt.Errorf("status %d", resp.StatusCode)}
	}
	deadline := start.Add(verdictTimeout)
	reason := "not found"
	for time.Now().Before(deadline) {
		rec, err := q.GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: id})
		switch {
		case status.Code(err) == codes.NotFound:
		case err != nil:
			return verdict{err: err}
		case rec.GetNotComparedReason() == "":
			return verdict{latency: time.Since(start)}
		case !strings.HasPrefix(rec.GetNotComparedReason(), "pending"):
			return verdict{err: errors.New("closed without comparison: " + rec.GetNotComparedReason())}
		default:
			reason = rec.GetNotComparedReason()
		}
		select {
		case <-ctx.Done():
			return verdict{err: ctx.Err()}
		case <-time.After(*pollEvery):
		}
	}
	return verdict{err: fmt.Errorf("not compared within %s (%s)", verdictTimeout, reason)}
}

func reportVerdicts(b *testing.B, vs []verdict) {
	var ls []time.Duration
	failed := 0
	for _, v := range vs {
		if v.err != nil {
			if failed == 0 {
				b.Logf("probe failed: %v", v.err)
			}
			failed++
			continue
		}
		ls = append(ls, v.latency)
	}
	if len(ls) == 0 {
		b.Fatalf("none of %d probes was compared", len(vs))
	}
	slices.Sort(ls)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(Percentile(ls, 50)), "p50-ms")
	b.ReportMetric(ms(Percentile(ls, 99)), "p99-ms")
	b.ReportMetric(ms(ls[len(ls)-1]), "max-ms")
	b.ReportMetric(float64(len(vs)), "probes")
	b.ReportMetric(float64(failed), "not-compared")
}
