package cli

import (
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/collector/server"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// onlyRoles keeps the digests of the given roles.
func onlyRoles(ds []*shadowdiffv1.ResponseDigest, roles ...shadowdiffv1.Role) []*shadowdiffv1.ResponseDigest {
	var out []*shadowdiffv1.ResponseDigest
	for _, d := range ds {
		for _, r := range roles {
			if d.GetRole() == r {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// waitRequests waits until the collector closed want requests in total.
func (c *testCollector) waitRequests(t *testing.T, want uint64) {
	t.Helper()
	c.waitTotal(t, "closed", (*shadowdiffv1.Totals).GetRequests, want)
}

// endpointRow returns the cells of the endpoint's row in the table.
func endpointRow(t *testing.T, out, endpoint string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, endpoint+" "); ok {
			return strings.Fields(rest)
		}
	}
	t.Fatalf("no row for %q in:\n%s", endpoint, out)
	return nil
}

// NOT COMPARED is requests - compared: a compared request that had no
// secondary is compared, and a request that lacked more than one role is
// one request.
func TestEndpointsNotCompared(t *testing.T) {
	primary, candidate := shadowdiffv1.Role_ROLE_PRIMARY, shadowdiffv1.Role_ROLE_CANDIDATE
	c := startCollector(t, server.Options{})
	// A: an endpoint with a secondary, 5 of whose requests had none.
	c.ingest(t, seedEndpoint("a", "/api/a", 10, productsBody))
	c.ingest(t, onlyRoles(seedEndpoint("a-nosec", "/api/a", 5, productsBody), primary, candidate))
	// B: 3 requests with only a primary (no secondary, no candidate).
	c.ingest(t, seedEndpoint("b", "/api/b", 5, productsBody))
	c.ingest(t, onlyRoles(seedEndpoint("b-primary", "/api/b", 3, productsBody), primary))
	// C: 2 requests whose shadows skipped a side effect, 1 whose candidate
	// received another query: not compared, but not incomplete either.
	c.ingest(t, seedEndpoint("c", "/api/c", 4, productsBody))
	skipped := seedEndpoint("c-skip", "/api/c", 2, productsBody)
	for _, d := range skipped {
		if d.GetRole() != primary {
			d.Skip, d.Status, d.Body = shadowdiffv1.SkipReason_SKIP_REASON_SIDE_EFFECT, 0, nil
		}
	}
	c.ingest(t, skipped)
	mismatch := seedEndpoint("c-mismatch", "/api/c", 1, productsBody)
	for _, d := range mismatch {
		if d.GetRole() == candidate {
			d.Request.QueryHash = 42
		}
	}
	c.ingest(t, mismatch)
	c.expire(t)
	c.waitRequests(t, 30)

	r := run(t, c, "endpoints", "-o", "wide")
	if r.code != ExitOK {
		t.Fatalf("endpoints: %s", r)
	}
	// Cells after the endpoint name: VERDICT RATING REQUESTS COMPARED DIFF
	// NOISE SIGNIFICANT NOT-COMPARED DIFFY SIDE-EFFECTS INCOMPLETE NO-P/C
	// MISMATCH NO-SECONDARY ...
	for _, tc := range []struct {
		endpoint                                                       string
		requests, compared, notCompared, incomplete, noPC, noSecondary string
	}{
		{"GET /api/a", "15", "15", "0", "0", "0/0", "5"},
		{"GET /api/b", "8", "5", "3", "3", "0/3", "3"},
		{"GET /api/c", "7", "4", "3", "0", "0/0", "0"},
	} {
		cells := endpointRow(t, r.stdout, tc.endpoint)
		got := []string{cells[2], cells[3], cells[7], cells[10], cells[11], cells[13]}
		want := []string{tc.requests, tc.compared, tc.notCompared, tc.incomplete, tc.noPC, tc.noSecondary}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: REQUESTS COMPARED NOT-COMPARED INCOMPLETE NO-P/C NO-SECONDARY = %v, want %v\n%s", tc.endpoint, got, want, r.stdout)
		}
	}
	if cells := endpointRow(t, r.stdout, "GET /api/c"); cells[9] != "2" || cells[12] != "1" {
		t.Errorf("GET /api/c: SIDE EFFECTS %s, MISMATCH %s, want 2 and 1\n%s", cells[9], cells[12], r.stdout)
	}
	if !strings.Contains(r.stdout, "30 requests, 24 compared, 2 side effects skipped, 3 incomplete, 1 fingerprint mismatches") {
		t.Errorf("total line: %s", r.stdout)
	}
}
