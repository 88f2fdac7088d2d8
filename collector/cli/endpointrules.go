package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func endpointRulesCommand(o *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "endpoint-rules",
		Short: "Manage endpoint rules: how request paths map to endpoint names",
		Long: `By default an endpoint is named "METHOD /templated/path": numeric, UUID and
long hex path segments collapse to a placeholder. Endpoint rules override
that: a path pattern (segments match literally, "{name}" matches one
segment, a trailing "**" matches the rest) and optionally a method map
requests to the endpoint name you choose.

The collector learns rules too: when one path segment takes more distinct
values than --auto-template-threshold among paths that agree elsewhere
(/products/blue-shirt, /products/red-hat, ...), it adds a rule such as
"GET /products/{slug}", listed with ORIGIN learned. Deleting a learned rule
keeps the collector from learning it again; add it yourself to get it back.`,
		Example: `  shadowdiff endpoint-rules add "/api/orders/{id}/**" "GET /api/orders/{id}/*" --method GET
  shadowdiff endpoint-rules list
  shadowdiff endpoint-rules delete er-2`,
		Args: args(0, 0),
		RunE: func(*cobra.Command, []string) error {
			return usagef("endpoint-rules needs a subcommand: add, list or delete")
		},
	}
	var method string
	add := &cobra.Command{
		Use:     "add PATH_PATTERN ENDPOINT",
		Short:   "Map requests matching a path pattern to an endpoint name",
		Example: `  shadowdiff endpoint-rules add "/users/{user}/avatar" "GET /users/{user}/avatar" --method GET`,
		Args:    args(2, 2, "PATH_PATTERN", "ENDPOINT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return withClient(o, func(c *client) error {
				rule, err := call(cmd.Context(), c, "", func(ctx context.Context) (*shadowdiffv1.EndpointRule, error) {
					return c.CreateEndpointRule(ctx, &shadowdiffv1.CreateEndpointRuleRequest{Rule: &shadowdiffv1.EndpointRule{
						Method: method, PathPattern: a[0], Endpoint: a[1]}})
				})
				if err != nil {
					return err
				}
				return o.printer(cmd.OutOrStdout()).message(rule, func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "endpoint rule %s created: %s %s -> %s\n", rule.GetId(), anyMethod(rule.GetMethod()), rule.GetPathPattern(), rule.GetEndpoint())
				})
			})
		},
	}
	add.Flags().StringVar(&method, "method", "", "HTTP method the rule applies to (default: any)")

	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List endpoint rules",
		Example: `  shadowdiff endpoint-rules list -o yaml`,
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(o, func(c *client) error {
				resp, err := call(cmd.Context(), c, "", func(ctx context.Context) (*shadowdiffv1.ListEndpointRulesResponse, error) {
					return c.ListEndpointRules(ctx, &shadowdiffv1.ListEndpointRulesRequest{})
				})
				if err != nil {
					return err
				}
				return o.printer(cmd.OutOrStdout()).message(resp, func(w *tabwriter.Writer) {
					if len(resp.GetRules()) == 0 {
						fmt.Fprintln(w, "No endpoint rules.")
						return
					}
					row(w, "ID", "METHOD", "PATH PATTERN", "ENDPOINT", "ORIGIN", "CREATED")
					for _, r := range resp.GetRules() {
						row(w, r.GetId(), anyMethod(r.GetMethod()), r.GetPathPattern(), r.GetEndpoint(), ruleOrigin(r), timestamp(r.GetCreated()))
					}
				})
			})
		},
	}
	del := &cobra.Command{
		Use:     "delete ID...",
		Aliases: []string{"rm"},
		Short:   "Delete endpoint rules by id (a deleted learned rule is not learned again)",
		Example: `  shadowdiff endpoint-rules delete er-2`,
		Long: `Delete each endpoint rule named that exists, as kubectl delete does: an ID
that is not found is reported on stderr, the others are still deleted, and
the command then exits 2.`,
		Args: args(1, -1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return withClient(o, func(c *client) error {
				return deleteEach(cmd, c, "endpoint rule", "shadowdiff endpoint-rules list", a, func(ctx context.Context, id string) error {
					_, err := c.DeleteEndpointRule(ctx, &shadowdiffv1.DeleteEndpointRuleRequest{Id: id})
					return err
				})
			})
		},
	}
	cmd.AddCommand(add, list, del)
	return cmd
}

// ruleOrigin says who made an endpoint rule.
func ruleOrigin(r *shadowdiffv1.EndpointRule) string {
	if r.GetLearned() {
		return "learned"
	}
	return "user"
}

func anyMethod(m string) string {
	if m == "" {
		return "*"
	}
	return m
}

func clearCommand(o *globalOptions) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "clear (ENDPOINT | --all)",
		Short: "Delete stored results (not rules) of an endpoint or of all endpoints",
		Long: `Delete the stored results of one endpoint, or of all endpoints with --all,
for example after deploying a new candidate. Noise and endpoint rules stay.`,
		Example: `  shadowdiff clear "GET /api/orders/{id}"
  shadowdiff clear --all`,
		Args: args(0, 1, "ENDPOINT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if (len(a) == 1) == all {
				return usagef("clear needs either an ENDPOINT or --all")
			}
			req := &shadowdiffv1.ClearRequest{}
			if len(a) == 1 {
				req.Endpoint = a[0]
			}
			return withClient(o, func(c *client) error {
				resp, err := call(cmd.Context(), c, endpointNotFound(req.Endpoint), func(ctx context.Context) (*shadowdiffv1.ClearResponse, error) {
					return c.Clear(ctx, req)
				})
				if err != nil {
					return err
				}
				return o.printer(cmd.OutOrStdout()).message(resp, func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "cleared %d request%s of %s\n", resp.GetRequestsDeleted(), plural(resp.GetRequestsDeleted()), orAll(req.Endpoint))
				})
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "clear the results of every endpoint")
	return cmd
}

// plural is "s" unless n is 1.
func plural(n uint64) string {
	if n == 1 {
		return ""
	}
	return "s"
}
