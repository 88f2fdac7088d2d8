package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func fieldsCommand(o *globalOptions) *cobra.Command {
	var (
		rf           rangeFlags
		includeNoise bool
		all          bool
	)
	cmd := &cobra.Command{
		Use:     "fields ENDPOINT",
		Aliases: []string{"field"},
		Short:   "Show per-field statistics of an endpoint",
		Long: `Show, for each field of an endpoint's responses (status, headers.<name>,
body.<json path>), how often it differed between primary and candidate (RAW)
and between primary and secondary (NOISE), whether the statistical test calls
it a significant regression and with what confidence, whether Diffy's rule
would report it, and its noise class. Fields covered by noise rules are left
out unless --include-noise is given; fields that never differed are left out
of the table unless --all is given (JSON and YAML always have every field).`,
		Example: `  shadowdiff fields "GET /api/orders/{id}"
  shadowdiff fields "GET /api/orders/{id}" --include-noise -o wide
  shadowdiff fields "GET /api/orders/{id}" -o json | jq '.fields[] | select(.significant) | .path'`,
		Args: args(1, 1, "ENDPOINT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			tr, err := rf.timeRange()
			if err != nil {
				return err
			}
			c, err := o.dial()
			if err != nil {
				return err
			}
			defer c.conn.Close()
			resp, err := call(cmd.Context(), c, endpointNotFound(a[0]), func(ctx context.Context) (*shadowdiffv1.ListFieldsResponse, error) {
				return c.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: a[0], Range: tr, IncludeNoise: includeNoise})
			})
			if err != nil {
				return err
			}
			if resp.GetEndpoint() == nil {
				return fmt.Errorf("%s", endpointNotFound(a[0]))
			}
			p := o.printer(cmd.OutOrStdout())
			return p.message(resp, func(w *tabwriter.Writer) { fieldsTable(w, resp, p.wide(), all) })
		},
	}
	rf.add(cmd)
	cmd.Flags().BoolVar(&includeNoise, "include-noise", false, "also list fields covered by noise rules")
	cmd.Flags().BoolVar(&all, "all", false, "also list fields that never differed")
	return cmd
}

func endpointHeadline(e *shadowdiffv1.EndpointSummary) string {
	return fmt.Sprintf("%s: %s, %d of %d requests compared, difference rate %s, noise rate %s, %d significant field(s)",
		e.GetEndpoint(), endpointVerdict(e), e.GetCompared(), e.GetRequests(),
		percent(e.GetDifferenceRate()), percent(e.GetNoiseRate()), e.GetSignificantFields())
}

func fieldsTable(w *tabwriter.Writer, resp *shadowdiffv1.ListFieldsResponse, wide, all bool) {
	fmt.Fprintf(w, "%s\n", endpointHeadline(resp.GetEndpoint()))
	if r := resp.GetEndpoint().GetVerdictReason(); r != "" {
		fmt.Fprintf(w, "Verdict: %s\n", r)
	}
	fmt.Fprintln(w)
	var shown []*shadowdiffv1.FieldStats
	for _, f := range resp.GetFields() {
		if all || f.GetRawDifferences() > 0 || f.GetNoiseDifferences() > 0 || f.GetShapeDifferences() > 0 {
			shown = append(shown, f)
		}
	}
	hidden := len(resp.GetFields()) - len(shown)
	defer func() {
		if hidden > 0 {
			fmt.Fprintf(w, "\n%d field(s) that never differed not shown (--all lists them).\n", hidden)
		}
	}()
	if len(shown) == 0 {
		fmt.Fprintln(w, "No field differed.")
		return
	}
	head := []string{"FIELD", "RAW", "NOISE", "DEFINITE", "SIGNIFICANT", "CONFIDENCE", "DIFFY", "NOISE CLASS", "KINDS"}
	if wide {
		head = append(head, "TOTAL", "EXCESS", "EXCESS LOWER", "P-VALUE", "DIFFY REL", "DIFFY ABS", "SHAPE", "RULE", "REASON")
	}
	row(w, head...)
	for _, f := range shown {
		class := noiseClass(f.GetNoiseClass())
		if f.GetSuppressedByRule() != "" {
			class = "rule"
		}
		cells := []string{
			f.GetPath(), u(f.GetRawDifferences()), u(f.GetNoiseDifferences()), u(f.GetDefinite()),
			yesNo(f.GetSignificant()), confidence(f.GetConfidence()), yesNo(f.GetDiffyReported()), class, kinds(f.GetRawKinds()),
		}
		if wide {
			cells = append(cells, u(f.GetTotal()), percent(f.GetExcessRate()), percent(f.GetExcessRateLower()), pValue(f.GetPValue()),
				fmt.Sprintf("%.1f", f.GetDiffyRelative()), fmt.Sprintf("%.2f", f.GetDiffyAbsolute()),
				u(f.GetShapeDifferences()), dash(f.GetSuppressedByRule()), dash(f.GetReason()))
		}
		row(w, cells...)
	}
}
