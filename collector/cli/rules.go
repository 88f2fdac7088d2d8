package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func noiseCommand(o *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "noise",
		Short: "Manage noise rules: fields whose differences are expected",
		Long: `Noise rules mark field prefixes ("body.meta", "headers.date") as expected
noise, for one endpoint or all. Their differences no longer count against
the candidate, in new and in stored results. 'noise list' also shows the
rules the collector suggests: fields it learnt are always noisy.`,
		Example: `  shadowdiff noise list
  shadowdiff noise add body.meta.generated_at --endpoint "GET /api/time" --comment "server clock"
  shadowdiff noise add headers.date
  shadowdiff noise delete nr-3`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("noise needs a subcommand: add, list or delete")
		},
	}
	var endpoint, comment string
	add := &cobra.Command{
		Use:     "add PATH_PREFIX",
		Short:   "Mark a field prefix as noise, for one endpoint or all",
		Example: `  shadowdiff noise add body.meta.generated_at --endpoint "GET /api/time"`,
		Args:    args(1, 1, "PATH_PREFIX"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return withClient(o, func(c *client) error {
				rule, err := call(cmd.Context(), c, endpointNotFound(endpoint), func(ctx context.Context) (*shadowdiffv1.NoiseRule, error) {
					return c.CreateNoiseRule(ctx, &shadowdiffv1.CreateNoiseRuleRequest{Rule: &shadowdiffv1.NoiseRule{
						Endpoint: endpoint, PathPrefix: a[0], Comment: comment}})
				})
				if err != nil {
					return err
				}
				noteUnseen(cmd, c, endpoint, "the rule applies to its traffic once it arrives")
				return o.printer(cmd.OutOrStdout()).message(rule, func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "noise rule %s created: %s on %s\n", rule.GetId(), rule.GetPathPrefix(), orAll(rule.GetEndpoint()))
				})
			})
		},
	}
	add.Flags().StringVar(&endpoint, "endpoint", "", "the endpoint the rule applies to (default: all endpoints)")
	add.Flags().StringVar(&comment, "comment", "", "why the field is noise")

	var listEndpoint string
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List noise rules in force and suggested rules",
		Example: `  shadowdiff noise list --endpoint "GET /api/time"`,
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(o, func(c *client) error {
				resp, err := call(cmd.Context(), c, endpointNotFound(listEndpoint), func(ctx context.Context) (*shadowdiffv1.ListNoiseRulesResponse, error) {
					return c.ListNoiseRules(ctx, &shadowdiffv1.ListNoiseRulesRequest{Endpoint: listEndpoint})
				})
				if err != nil {
					return err
				}
				return o.printer(cmd.OutOrStdout()).message(resp, func(w *tabwriter.Writer) { noiseTable(w, resp) })
			})
		},
	}
	list.Flags().StringVar(&listEndpoint, "endpoint", "", "only the rules of this endpoint (default: all)")

	del := &cobra.Command{
		Use:     "delete ID...",
		Aliases: []string{"rm"},
		Short:   "Delete noise rules by id",
		Example: `  shadowdiff noise delete nr-3 nr-4`,
		Long: `Delete each noise rule named that exists, as kubectl delete does: an ID
that is not found is reported on stderr, the others are still deleted, and
the command then exits 2.`,
		Args: args(1, -1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return withClient(o, func(c *client) error {
				return deleteEach(cmd, c, "noise rule", "shadowdiff noise list", a, func(ctx context.Context, id string) error {
					_, err := c.DeleteNoiseRule(ctx, &shadowdiffv1.DeleteNoiseRuleRequest{Id: id})
					return err
				})
			})
		},
	}
	cmd.AddCommand(add, list, del)
	return cmd
}

func noiseTable(w *tabwriter.Writer, resp *shadowdiffv1.ListNoiseRulesResponse) {
	if len(resp.GetRules()) == 0 {
		fmt.Fprintln(w, "No noise rules.")
	} else {
		row(w, "ID", "ENDPOINT", "PATH PREFIX", "CREATED", "COMMENT")
		for _, r := range resp.GetRules() {
			row(w, r.GetId(), orAll(r.GetEndpoint()), r.GetPathPrefix(), timestamp(r.GetCreated()), dash(r.GetComment()))
		}
	}
	if len(resp.GetSuggested()) == 0 {
		return
	}
	fmt.Fprintln(w, "\nSuggested rules (fields learnt to be always noisy):")
	row(w, "ENDPOINT", "PATH PREFIX", "REASON", "ADD WITH")
	for _, s := range resp.GetSuggested() {
		r := s.GetRule()
		addWith := "shadowdiff noise add " + strconv.Quote(r.GetPathPrefix())
		if r.GetEndpoint() != "" {
			addWith += " --endpoint " + strconv.Quote(r.GetEndpoint())
		}
		row(w, orAll(r.GetEndpoint()), r.GetPathPrefix(), dash(s.GetReason()), addWith)
	}
}

// deleteEach deletes every id as kubectl delete does: an id that cannot be
// deleted (not found) is reported and the others are still deleted; the
// command then fails with every such error. An error that is not about the
// id (collector unreachable, access refused) stops it, as every other id
// would fail the same way.
func deleteEach(cmd *cobra.Command, c *client, kind, listCommand string, ids []string, del func(context.Context, string) error) error {
	var failed []error
	for _, id := range ids {
		_, err := call(cmd.Context(), c, fmt.Sprintf("%s %q not found; run `%s`", kind, id, listCommand),
			func(ctx context.Context) (struct{}, error) { return struct{}{}, del(ctx, id) })
		switch {
		case err == nil:
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s deleted\n", kind, id)
		case errors.As(err, new(requestError)):
			failed = append(failed, err)
		default:
			return errors.Join(append(failed, err)...)
		}
	}
	return errors.Join(failed...)
}

// withClient dials the collector, runs f and closes the connection.
func withClient(o *globalOptions, f func(*client) error) error {
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.conn.Close()
	return f(c)
}
