package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func watchCommand(o *globalOptions) *cobra.Command {
	var count int
	cmd := &cobra.Command{
		Use:   "watch [ENDPOINT]",
		Short: "Stream fields as they become significant regressions",
		Long: `Print each field the moment the collector decides it is a significant
regression, for all endpoints or one. Runs until interrupted (Ctrl-C) or
until --count events were printed. With -o json, prints one JSON object per
line; with -o yaml, one YAML document per event.`,
		Example: `  shadowdiff watch
  shadowdiff watch "GET /api/orders/{id}" --count 1 -o json`,
		Args: args(0, 1, "ENDPOINT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if count < 0 {
				return usagef("--count must not be negative, got %d", count)
			}
			req := &shadowdiffv1.WatchRegressionsRequest{}
			if len(a) == 1 {
				req.Endpoint = a[0]
			}
			c, err := o.dial()
			if err != nil {
				return err
			}
			defer c.conn.Close()
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			stream, err := c.WatchRegressions(ctx, req)
			if err != nil {
				return c.explain(err, endpointNotFound(req.Endpoint))
			}
			p := o.printer(cmd.OutOrStdout())
			for n := 0; count == 0 || n < count; n++ {
				ev, err := stream.Recv()
				switch {
				case errors.Is(err, io.EOF):
					return fmt.Errorf("the collector at %s ended the stream", o.collector)
				case err != nil && cmd.Context().Err() != nil:
					return nil // interrupted
				case err != nil:
					return c.explain(err, endpointNotFound(req.Endpoint))
				}
				if err := p.stream(ev, eventLine(ev)); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many events (0: run until interrupted)")
	return cmd
}

func eventLine(ev *shadowdiffv1.RegressionEvent) string {
	f := ev.GetField()
	line := fmt.Sprintf("%s  %s  %s: significant regression, confidence %s, differs in %d of %d requests (noise %d)",
		timestamp(ev.GetTime()), ev.GetEndpoint(), f.GetPath(), confidence(f.GetConfidence()),
		f.GetRawDifferences(), f.GetTotal(), f.GetNoiseDifferences())
	if r := f.GetReason(); r != "" {
		line += ": " + r
	}
	return line
}
