package cli

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func endpointsCommand(o *globalOptions) *cobra.Command {
	var rf rangeFlags
	cmd := &cobra.Command{
		Use:     "endpoints",
		Aliases: []string{"endpoint", "ep"},
		Short:   "List endpoints ranked by difference rate, with their verdicts",
		Long: `List the endpoints the collector has seen, ranked by difference rate (the
share of compared requests with a difference that is not noise), with the
verdict, Diffy's rating, the noise rate and how many requests were not
compared (requests - compared). -o wide splits those by cause: SIDE EFFECTS
(the shadows skipped an unsafe request), INCOMPLETE (no primary or no
candidate response; NO P/C counts each) and MISMATCH (the versions did not
receive the same request). NO SECONDARY counts the requests, compared or
not, that had no secondary response once the endpoint had shown it has a
secondary (its first requests, compared before any secondary digest came,
are not counted).`,
		Example: `  shadowdiff endpoints
  shadowdiff endpoints --since 1h -o wide
  shadowdiff endpoints -o json | jq '.endpoints[] | select(.verdict == "VERDICT_REGRESSION") | .endpoint'`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			tr, err := rf.timeRange()
			if err != nil {
				return err
			}
			c, err := o.dial()
			if err != nil {
				return err
			}
			defer c.conn.Close()
			resp, err := call(cmd.Context(), c, "", func(ctx context.Context) (*shadowdiffv1.ListEndpointsResponse, error) {
				return c.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{Range: tr})
			})
			if err != nil {
				return err
			}
			p := o.printer(cmd.OutOrStdout())
			if len(resp.GetEndpoints()) == 0 && !p.structured() {
				if tr != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "No endpoints in this time window.")
				} else {
					fmt.Fprintln(cmd.ErrOrStderr(), "No endpoints yet: the collector has not compared any request. Is the filter sending digests to it?")
				}
				return nil
			}
			return p.message(resp, func(w *tabwriter.Writer) { endpointsTable(w, resp, p.wide()) })
		},
	}
	rf.add(cmd)
	return cmd
}

// notCompared is how many requests of the endpoint were not compared:
// requests = compared + skipped (side effects) + incomplete + fingerprint
// mismatch. The Incomplete counts are not summed: a request can lack more
// than one role, and missing_secondary also counts compared requests that
// had no secondary.
func notCompared(e *shadowdiffv1.EndpointSummary) uint64 {
	if e.GetCompared() >= e.GetRequests() {
		return 0
	}
	return e.GetRequests() - e.GetCompared()
}

// incomplete is how many requests were not compared because the primary's
// or the candidate's response never arrived.
func incomplete(e *shadowdiffv1.EndpointSummary) uint64 {
	other := e.GetSkippedSideEffect() + e.GetFingerprintMismatch()
	if nc := notCompared(e); nc > other {
		return nc - other
	}
	return 0
}

func endpointsTable(w *tabwriter.Writer, resp *shadowdiffv1.ListEndpointsResponse, wide bool) {
	head := []string{"ENDPOINT", "VERDICT", "RATING", "REQUESTS", "COMPARED", "DIFF", "NOISE", "SIGNIFICANT", "NOT COMPARED"}
	if wide {
		// NOT COMPARED = SIDE EFFECTS + INCOMPLETE + MISMATCH. NO P/C: the
		// incomplete requests without a primary / a candidate response (one
		// can lack both). NO SECONDARY: requests without a secondary on an
		// endpoint that has one, compared or not.
		head = append(head, "DIFFY", "SIDE EFFECTS", "INCOMPLETE", "NO P/C", "MISMATCH", "NO SECONDARY", "DUPLICATES", "SECONDARY", "LAST SEEN")
	}
	row(w, head...)
	for _, e := range resp.GetEndpoints() {
		cells := []string{
			e.GetEndpoint(), endpointVerdict(e), rating(e.GetRating()),
			u(e.GetRequests()), u(e.GetCompared()), percent(e.GetDifferenceRate()), percent(e.GetNoiseRate()),
			u(uint64(e.GetSignificantFields())), u(notCompared(e)),
		}
		if wide {
			in := e.GetIncomplete()
			cells = append(cells, u(uint64(e.GetDiffyFields())), u(e.GetSkippedSideEffect()), u(incomplete(e)),
				fmt.Sprintf("%d/%d", in.GetMissingPrimary(), in.GetMissingCandidate()),
				u(e.GetFingerprintMismatch()), u(in.GetMissingSecondary()), u(e.GetDuplicates()), yesNo(e.GetHasSecondary()), timestamp(e.GetLastSeen()))
		}
		row(w, cells...)
	}
	t := resp.GetTotals()
	if t == nil {
		return
	}
	fmt.Fprintf(w, "\nTotal: %d requests, %d compared, %d side effects skipped, %d incomplete, %d fingerprint mismatches, %d duplicates, %d dropped by filters\n",
		t.GetRequests(), t.GetCompared(), t.GetSkippedSideEffect(), t.GetIncomplete(), t.GetFingerprintMismatch(),
		t.GetDuplicates(), t.GetDroppedByFilters())
}

func u(n uint64) string { return strconv.FormatUint(n, 10) }

// noteUnseen prints a note on stderr when the collector has no endpoint
// named endpoint (yet): a typo otherwise goes unnoticed, but a name may
// be an Envoy route name and a rule may come before the traffic, so it is
// not refused. then says what happens anyway. Nothing is printed when the
// list cannot be read: the command itself will say what is wrong.
func noteUnseen(cmd *cobra.Command, c *client, endpoint, then string) {
	if endpoint == "" {
		return
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), c.opts.timeout)
	defer cancel()
	resp, err := c.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{})
	if err != nil {
		return
	}
	for _, e := range resp.GetEndpoints() {
		if e.GetEndpoint() == endpoint {
			return
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Note: no endpoint named %q has been seen yet; %s (`shadowdiff endpoints` lists the known ones).\n", endpoint, then)
}
