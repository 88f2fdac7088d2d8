package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func samplesCommand(o *globalOptions) *cobra.Command {
	var (
		rf           rangeFlags
		definiteOnly bool
		limit        uint32
		pageToken    string
	)
	cmd := &cobra.Command{
		Use:     "samples ENDPOINT [FIELD]",
		Aliases: []string{"sample"},
		Short:   "List sample requests in which a field differed",
		Long: `List sample requests of an endpoint in which FIELD differed (a prefix
matches its children: "body.order" covers "body.order.total"), or any field
when FIELD is left out. Show one in full with 'shadowdiff request'.`,
		Example: `  shadowdiff samples "GET /api/orders/{id}" body.order.total
  shadowdiff samples "GET /api/orders/{id}" body.order --definite --limit 5
  shadowdiff request "$(shadowdiff samples "GET /api/orders/{id}" status -o json | jq -r '.samples[0].pairingKey')"`,
		Args: args(1, 2, "ENDPOINT", "FIELD"),
		RunE: func(cmd *cobra.Command, a []string) error {
			tr, err := rf.timeRange()
			if err != nil {
				return err
			}
			req := &shadowdiffv1.ListSamplesRequest{Endpoint: a[0], Range: tr, DefiniteOnly: definiteOnly, Limit: limit, PageToken: pageToken}
			if len(a) > 1 {
				req.Path = a[1]
			}
			c, err := o.dial()
			if err != nil {
				return err
			}
			defer c.conn.Close()
			resp, err := call(cmd.Context(), c, endpointNotFound(a[0]), func(ctx context.Context) (*shadowdiffv1.ListSamplesResponse, error) {
				return c.ListSamples(ctx, req)
			})
			if err != nil {
				return err
			}
			p := o.printer(cmd.OutOrStdout())
			if len(resp.GetSamples()) == 0 && !p.structured() {
				of := "any field"
				if req.Path != "" {
					of = req.Path
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "No samples of %s in %s.\n", of, a[0])
				return nil
			}
			more := ""
			if t := resp.GetNextPageToken(); t != "" {
				more = nextPageCommand(cmd, a, tr, t)
			}
			if err := p.message(resp, func(w *tabwriter.Writer) { samplesTable(w, resp, req) }); err != nil {
				return err
			}
			if more != "" && !p.structured() {
				// After the table: the tab writer would pad a tab in a
				// quoted value.
				_, err = fmt.Fprintf(p.w, "\nMore: %s\n", more)
			}
			return err
		},
	}
	rf.add(cmd)
	f := cmd.Flags()
	f.BoolVar(&definiteOnly, "definite", false, "only requests with definite evidence: primary and secondary agreed on the field, the candidate did not")
	f.Uint32Var(&limit, "limit", 20, "most samples to list")
	f.StringVar(&pageToken, "page-token", "", "continue a previous listing (the token it printed)")
	return cmd
}

// samplesTable lists the samples.
func samplesTable(w *tabwriter.Writer, resp *shadowdiffv1.ListSamplesResponse, req *shadowdiffv1.ListSamplesRequest) {
	row(w, "PAIRING KEY", "TIME", "STATUS P/S/C", "DIFFERENCES")
	for _, s := range resp.GetSamples() {
		row(w, s.GetPairingKey(), timestamp(s.GetTime()), statuses(s), differencesOf(s, req.GetPath()))
	}
}

// nextPageCommand is the command line that lists the page after token:
// this one with its arguments and every flag the user set (window, filters,
// collector, TLS, output), so the next page lists the same selection. A
// --since becomes the --from it stood for, as the window must not move
// between pages.
func nextPageCommand(cmd *cobra.Command, a []string, tr *shadowdiffv1.TimeRange, token string) string {
	parts := []string{cmd.CommandPath()}
	for _, arg := range a {
		parts = append(parts, shellQuote(arg))
	}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch {
		case f.Name == "page-token":
		case f.Name == "since":
			if tr.GetStart() != nil {
				parts = append(parts, "--from", tr.GetStart().AsTime().UTC().Format(time.RFC3339Nano))
			}
		case f.Value.Type() == "bool" && f.Value.String() == "true":
			parts = append(parts, "--"+f.Name)
		case f.Value.Type() == "bool":
			parts = append(parts, "--"+f.Name+"="+f.Value.String())
		default:
			parts = append(parts, "--"+f.Name, shellQuote(f.Value.String()))
		}
	})
	return strings.Join(append(parts, "--page-token", shellQuote(token)), " ")
}

func statuses(r *shadowdiffv1.RequestRecord) string {
	s := func(d *shadowdiffv1.ResponseDigest) string {
		if d == nil {
			return "-"
		}
		return u(uint64(d.GetStatus()))
	}
	return s(r.GetPrimary()) + "/" + s(r.GetSecondary()) + "/" + s(r.GetCandidate())
}

// differencesOf summarises a request's primary/candidate differences under
// the path prefix: "body.order.total value (definite), status status".
func differencesOf(r *shadowdiffv1.RequestRecord, prefix string) string {
	const show = 3
	var parts []string
	n := 0
	for _, d := range r.GetDifferences() {
		if d.GetComparison() != shadowdiffv1.Comparison_COMPARISON_RAW || !hasPathPrefix(d.GetPath(), prefix) {
			continue
		}
		n++
		if len(parts) == show {
			continue
		}
		text := d.GetPath() + " " + kind(d.GetKind())
		switch {
		case d.GetNoise():
			text += " (noise)"
		case d.GetDefinite():
			text += " (definite)"
		}
		parts = append(parts, text)
	}
	if n == 0 {
		return dash(r.GetNotComparedReason())
	}
	if n > show {
		parts = append(parts, fmt.Sprintf("+%d more", n-show))
	}
	return strings.Join(parts, ", ")
}

// hasPathPrefix reports whether path is prefix or one of its children
// ("body.a" covers "body.a", "body.a.b" and "body.a[]", not "body.ab").
func hasPathPrefix(path, prefix string) bool {
	if prefix == "" || path == prefix {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	next := path[len(prefix)]
	return next == '.' || next == '['
}
