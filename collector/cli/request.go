package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func requestCommand(o *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "request PAIRING_KEY",
		Aliases: []string{"req"},
		Short:   "Show one request: its three responses and their differences",
		Long: `Show one request by its pairing key (the x-request-id the mirrors share):
the primary, secondary and candidate responses as the filters digested them,
and every difference found between them. Values appear where the filter was
allowed to collect them (raw_fields); otherwise type, shape and hash.`,
		Example: `  shadowdiff request 6f1c2a9e-3b1d-4c55-9f0e-2a7d1b8c4e21
  shadowdiff request 6f1c2a9e-3b1d-4c55-9f0e-2a7d1b8c4e21 -o yaml`,
		Args: args(1, 1, "PAIRING_KEY"),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := o.dial()
			if err != nil {
				return err
			}
			defer c.conn.Close()
			notFound := fmt.Sprintf("request %q not found; it may be older than the collector's retention, or not paired yet (run `shadowdiff samples ENDPOINT`)", a[0])
			rec, err := call(cmd.Context(), c, notFound, func(ctx context.Context) (*shadowdiffv1.RequestRecord, error) {
				return c.GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: a[0]})
			})
			if err != nil {
				return err
			}
			return o.printer(cmd.OutOrStdout()).message(rec, func(w *tabwriter.Writer) { requestTable(w, rec) })
		},
	}
}

func requestTable(w *tabwriter.Writer, r *shadowdiffv1.RequestRecord) {
	compared := "yes"
	if r.GetNotComparedReason() != "" {
		compared = "no: " + r.GetNotComparedReason()
	}
	fmt.Fprintf(w, "Request:\t%s\nEndpoint:\t%s\nTime:\t%s\nCompared:\t%s\n\n", r.GetPairingKey(), r.GetEndpoint(), timestamp(r.GetTime()), compared)

	row(w, "ROLE", "STATUS", "WORKLOAD", "BODY", "LATENCY")
	for _, d := range []struct {
		name string
		d    *shadowdiffv1.ResponseDigest
	}{{"primary", r.GetPrimary()}, {"secondary", r.GetSecondary()}, {"candidate", r.GetCandidate()}} {
		if d.d == nil {
			row(w, d.name, "-", "(no digest)", "-", "-")
			continue
		}
		st := u(uint64(d.d.GetStatus()))
		if d.d.GetSkip() != shadowdiffv1.SkipReason_SKIP_REASON_UNSPECIFIED {
			st = strings.ToLower(enumName(d.d.GetSkip().String(), "SKIP_REASON_"))
		}
		row(w, d.name, st, workload(d.d.GetWorkload()), body(d.d.GetBody()),
			(time.Duration(d.d.GetUpstreamLatencyMicros()) * time.Microsecond).String())
	}

	if len(r.GetDifferences()) == 0 {
		fmt.Fprintln(w, "\nNo differences.")
		return
	}
	fmt.Fprintln(w)
	row(w, "DIFFERENCE", "KIND", "BETWEEN", "PRIMARY", "OTHER", "NOTE")
	for _, d := range r.GetDifferences() {
		between := "primary/candidate"
		if d.GetComparison() == shadowdiffv1.Comparison_COMPARISON_NOISE {
			between = "primary/secondary"
		}
		var note []string
		if d.GetDefinite() {
			note = append(note, "definite")
		}
		if d.GetNoise() {
			note = append(note, "noise")
		}
		row(w, d.GetPath(), kind(d.GetKind()), between, entryValue(d.GetLeft()), entryValue(d.GetRight()), dash(strings.Join(note, ", ")))
	}
}

func workload(wl *shadowdiffv1.Workload) string {
	if wl == nil {
		return "-"
	}
	s := strings.TrimSpace(wl.GetName() + " " + wl.GetVersion())
	if wl.GetInstance() != "" {
		s += " (" + wl.GetInstance() + ")"
	}
	return dash(strings.TrimSpace(s))
}

func body(b *shadowdiffv1.BodyDigest) string {
	if b == nil {
		return "-"
	}
	s := strings.ToLower(enumName(b.GetKind().String(), "BODY_KIND_")) + " " + bytesText(b.GetWireSize())
	if n := len(b.GetFields()); n > 0 {
		s += fmt.Sprintf(", %d fields", n)
	}
	if b.GetTruncated() {
		s += ", truncated"
	}
	return s
}
