// Package cli is the shadowdiff command line: it reads the collector's
// results over the gRPC query API (endpoints, fields, samples, requests, a
// live stream of regressions), manages noise and endpoint rules, and gates
// releases on the verdict for CI/CD and progressive-delivery hooks.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shadowdiff/shadowdiff/collector/internal/buildinfo"
)

// Exit codes, as diff(1) uses them: 0 fine, 1 the gate found regressions,
// 2 the command could not do its job (bad usage, unreachable collector,
// unknown name, server error).
const (
	ExitOK     = 0
	ExitGate   = 1
	ExitFailed = 2
)

// Main runs the CLI with args (without the program name) and returns the
// exit code. getenv supplies SHADOWDIFF_COLLECTOR.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	root := NewCommand(stdout, stderr, getenv)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	var gate *gateFailedError
	if errors.As(err, &gate) {
		return ExitGate
	}
	// A command that went on past failures (delete ID...) returns them
	// joined: one line each.
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		fmt.Fprintf(stderr, "Error: %v\n", e)
	}
	if isUsage(err) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return ExitFailed
}

// NewCommand builds the command tree.
func NewCommand(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	o := &globalOptions{getenv: getenv}
	root := &cobra.Command{
		Use:   "shadowdiff",
		Short: "Read shadowdiff's verdict on shadow traffic and gate releases on it",
		Long: `shadowdiff compares the responses of a candidate version (v2) of a service
with the live version (v1) on mirrored traffic, field by field, net of the
noise v1 has against itself. This command reads the collector's results.

Exit status: 0 on success, 1 when 'gate' finds regressions, 2 on any error
(bad usage, collector unreachable, unknown endpoint).`,
		Example: `  # Endpoints ranked by difference rate
  shadowdiff endpoints
  # Fields of one endpoint, then sample requests where a field differed
  shadowdiff fields "GET /api/orders/{id}"
  shadowdiff samples "GET /api/orders/{id}" body.order.total
  # Fail a pipeline step when v2 regresses
  shadowdiff gate --collector shadowdiff-collector.shadowdiff:9090`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRunE: func(*cobra.Command, []string) error { return o.validate() },
	}
	// --version as cobra does it, with the build's revision and time.
	info := buildinfo.Read()
	root.Version = info.Version
	root.SetVersionTemplate(info.String("shadowdiff") + "\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	o.addFlags(root)

	for _, c := range []*cobra.Command{
		endpointsCommand(o), fieldsCommand(o), samplesCommand(o), requestCommand(o), watchCommand(o),
		noiseCommand(o), endpointRulesCommand(o), clearCommand(o), gateCommand(o), versionCommand(o, info),
	} {
		root.AddCommand(c)
	}
	return root
}

// usageError marks a mistake on the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command") ||
		strings.HasPrefix(err.Error(), "unknown flag") || strings.HasPrefix(err.Error(), "unknown shorthand flag")
}

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// args checks the number of positional arguments, naming the missing ones.
func args(min, max int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		switch {
		case len(a) < min:
			return usagef("%s needs %s", cmd.Name(), strings.Join(names[len(a):min], " and "))
		case max >= 0 && len(a) > max:
			return usagef("%s takes at most %d argument(s) (%s), got %d: %q", cmd.Name(), max, strings.Join(names, " "), len(a), a)
		}
		return nil
	}
}

// versionCommand prints the CLI's version, kubectl style (the same line as
// --version). The collector's own: `collector --version`, and its start-up
// log line.
func versionCommand(o *globalOptions, info buildinfo.Info) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of this shadowdiff binary",
		Example: "  shadowdiff version\n  shadowdiff version -o json",
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.printer(cmd.OutOrStdout()).value(info, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, info.String("shadowdiff"))
			})
		},
	}
}
