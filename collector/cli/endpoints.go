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
verdict, Diffy's rating, the noise rate and how much traffic was not compared.`,
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

func notCompared(e *shadowdiffv1.EndpointSummary) uint64 {
	in := e.GetIncomplete()
	return e.GetSkippedSideEffect() + e.GetFingerprintMismatch() +
		in.GetMissingPrimary() + in.GetMissingSecondary() + in.GetMissingCandidate()
}

func endpointsTable(w *tabwriter.Writer, resp *shadowdiffv1.ListEndpointsResponse, wide bool) {
	head := []string{"ENDPOINT", "VERDICT", "RATING", "REQUESTS", "COMPARED", "DIFF", "NOISE", "SIGNIFICANT", "NOT COMPARED"}
	if wide {
		head = append(head, "DIFFY", "SIDE EFFECTS", "INCOMPLETE P/S/C", "MISMATCH", "DUPLICATES", "SECONDARY", "LAST SEEN")
	}
	row(w, head...)
	for _, e := range resp.GetEndpoints() {
		cells := []string{
			e.GetEndpoint(), verdict(e.GetVerdict()), rating(e.GetRating()),
			u(e.GetRequests()), u(e.GetCompared()), percent(e.GetDifferenceRate()), percent(e.GetNoiseRate()),
			u(uint64(e.GetSignificantFields())), u(notCompared(e)),
		}
		if wide {
			in := e.GetIncomplete()
			cells = append(cells, u(uint64(e.GetDiffyFields())), u(e.GetSkippedSideEffect()),
				fmt.Sprintf("%d/%d/%d", in.GetMissingPrimary(), in.GetMissingSecondary(), in.GetMissingCandidate()),
				u(e.GetFingerprintMismatch()), u(e.GetDuplicates()), yesNo(e.GetHasSecondary()), timestamp(e.GetLastSeen()))
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
