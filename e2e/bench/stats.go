package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Counters is a snapshot of counters by name: the sidecar's stat names
// ("wasmcustom.shadowdiff.digests_sent"), or Prometheus series with their
// labels as exposed (`shadowdiff_collector_digests_total{result="accepted",role="primary"}`).
type Counters map[string]float64

// Sum adds the counters whose name is prefix or starts with prefix followed
// by '{' (Prometheus labels). Sub-counters such as
// "digests_dropped.queue_full" are not included in "digests_dropped".
func (c Counters) Sum(prefix string) float64 {
	var sum float64
	for name, v := range c {
		if name == prefix || strings.HasPrefix(name, prefix+"{") {
			sum += v
		}
	}
	return sum
}

// With returns the series of a Prometheus metric whose labels include
// every label="value" pair given, summed.
func (c Counters) With(metric string, labels ...string) float64 {
	var sum float64
next:
	for name, v := range c {
		if !strings.HasPrefix(name, metric+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(name, l) {
				continue next
			}
		}
		sum += v
	}
	return sum
}

// Since returns c minus before, name by name (names missing from before
// count from zero).
func (c Counters) Since(before Counters) Counters {
	d := make(Counters, len(c))
	for name, v := range c {
		d[name] = v - before[name]
	}
	return d
}

// SidecarStats reads the harness sidecar's admin /stats ("name: value" lines).
func SidecarStats(ctx context.Context, client *http.Client, adminURL string) (Counters, error) {
	body, err := get(ctx, client, adminURL+"/stats")
	if err != nil {
		return nil, err
	}
	c := Counters{}
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("admin /stats: %q: %w", line, err)
		}
		c[name] = v
	}
	return c, nil
}

// CollectorMetrics reads a Prometheus text exposition (the collector's
// /metrics). Histograms and summaries appear as their _bucket, _sum and
// _count series.
func CollectorMetrics(ctx context.Context, client *http.Client, url string) (Counters, error) {
	body, err := get(ctx, client, url)
	if err != nil {
		return nil, err
	}
	c := Counters{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, err := splitSeries(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", url, err)
		}
		value, _, _ := strings.Cut(strings.TrimSpace(rest), " ") // an optional timestamp follows
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", url, line, err)
		}
		c[name] = v
	}
	return c, sc.Err()
}

// splitSeries splits a sample line after its series name and labels; label
// values may hold spaces, braces and escaped quotes.
func splitSeries(line string) (series, rest string, err error) {
	open := strings.IndexAny(line, "{ ")
	if open < 0 {
		return "", "", fmt.Errorf("no value in %q", line)
	}
	if line[open] == ' ' {
		return line[:open], line[open+1:], nil
	}
	quoted := false
	for i := open + 1; i < len(line); i++ {
		switch {
		case quoted && line[i] == '\\':
			i++
		case line[i] == '"':
			quoted = !quoted
		case !quoted && line[i] == '}':
			return line[:i+1], line[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("unterminated labels in %q", line)
}

func get(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}
