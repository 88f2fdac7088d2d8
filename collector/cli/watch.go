package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func watchCommand(o *globalOptions) *cobra.Command {
	var count int
	cmd := &cobra.Command{
		Use:   "watch [ENDPOINT]",
		Short: "Stream fields as they become significant regressions",
		Long: `Print each field the moment the collector decides it is a significant
regression, for all endpoints or one. Runs until interrupted (Ctrl-C, exit
0), until --count events were printed, or until the collector closes the
stream (it shuts down, or the connection is lost: exit 2). With -o json,
prints one JSON object per line; with -o yaml, one YAML document per event.`,
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
			noteUnseen(cmd, c, req.Endpoint, "watching for it anyway")
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			stream, err := c.WatchRegressions(ctx, req)
			if err != nil {
				return c.explain(err, endpointNotFound(req.Endpoint))
			}
			// The collector sends the headers once it has subscribed the
			// watch; without them the call failed (Recv says why).
			md, _ := stream.Header()
			subscribed := md != nil
			if subscribed {
				// On stderr, so -o json stays one object per line: a
				// quiet watch is not a hung one.
				what := "every endpoint"
				if req.Endpoint != "" {
					what = req.Endpoint
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Watching %s at %s for new regressions; Ctrl-C stops.\n", what, o.collector)
			}
			p := o.printer(cmd.OutOrStdout())
			for n := 0; count == 0 || n < count; n++ {
				ev, err := stream.Recv()
				switch {
				case err != nil && cmd.Context().Err() != nil:
					return nil // interrupted by the user (Ctrl-C)
				case errors.Is(err, io.EOF):
					return fmt.Errorf("the collector at %s closed the stream", o.collector)
				case err != nil && subscribed:
					return c.streamClosed(err)
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

// streamClosed explains why a stream the collector had accepted ended. A
// collector that shuts down ends its watch streams with Unavailable
// ("collector is shutting down"), as a lost connection does; older
// collectors cancelled them (Canceled, which then does not mean the user
// cancelled).
func (c *client) streamClosed(err error) error {
	st := status.Convert(err)
	why := fmt.Sprintf("%s: %s", st.Code(), st.Message())
	switch st.Code() {
	case codes.Canceled:
		return fmt.Errorf("the collector at %s closed the stream: it is shutting down (%s)", c.opts.collector, why)
	case codes.Unavailable:
		return fmt.Errorf("the collector at %s closed the stream: it is shutting down or the connection was lost (%s)", c.opts.collector, why)
	}
	return fmt.Errorf("the collector at %s closed the stream: %s", c.opts.collector, why)
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
