package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// gateFailedError is returned after the gate printed its failure: exit 1.
type gateFailedError struct{ reason string }

func (e *gateFailedError) Error() string { return "gate failed: " + e.reason }

// gateOptions are the gate's thresholds.
type gateOptions struct {
	rf               rangeFlags
	minSamples       uint64
	maxRegressions   int
	confidence       float64
	rule             string
	failInsufficient bool
}

const (
	ruleStatistical = "statistical"
	ruleDiffy       = "diffy"
)

// The gate's verdicts, by the names -o json/yaml print: those of the API's
// Verdict enum, as 'endpoints -o json' prints them, and VERDICT_SKIPPED
// (as the console names it) for an endpoint no traffic will judge, which
// the API calls INSUFFICIENT_DATA. Tables drop the VERDICT_ prefix.
var (
	verdictRegression   = shadowdiffv1.Verdict_VERDICT_REGRESSION.String()
	verdictClean        = shadowdiffv1.Verdict_VERDICT_CLEAN.String()
	verdictInsufficient = shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA.String()
	verdictSkipped      = "VERDICT_SKIPPED"
)

func gateCommand(o *globalOptions) *cobra.Command {
	g := &gateOptions{}
	cmd := &cobra.Command{
		Use:   "gate [ENDPOINT...]",
		Short: "Exit 1 when endpoints have significant regressions (for CI/CD and rollout hooks)",
		Long: `Check the collector's verdict and exit 0 (pass) or 1 (fail), printing why.
The gate fails when more fields than --max-regressions are regressions,
summed over the endpoints given (all endpoints when none is given).

A field is a regression when its p-value (corrected for the number of
fields and for repeated looks) is at most the collector's significance level
(1 - its --confidence), the collector's statistical decision; with
--confidence, at most 1 - confidence instead; with --rule diffy, when Diffy's
rule reports it. Fields covered by noise rules never count.

An endpoint with fewer compared requests than --min-samples (default: the
collector's --min-samples), or than the statistical test needs to call any
field a regression at its level, is not judged (INSUFFICIENT_DATA): the test
pays for being looked at again and again with a minimum of evidence, about 33
requests with a secondary at 99% for one field. With
--fail-on-insufficient-data such an endpoint fails the gate, as does having
no endpoint at all. Endpoints whose requests were all side effects (POST,
PUT, DELETE... the shadows' filters answer locally) are never compared: they
are listed as SKIPPED and do not fail the gate, even when they are all there
is.

--since, --from and --to select whole aggregation buckets: minutes, hours for
results older than 2 hours. A window is widened to the buckets it touches.

Exit status: 0 pass, 1 fail, 2 error (bad usage, collector unreachable,
unknown endpoint). Use it as an Argo Rollouts analysis Job or in a Flagger
pre-rollout/confirm-promotion webhook runner.`,
		Example: `  # In a pipeline, after mirrored traffic ran for a while
  shadowdiff gate --collector shadowdiff-collector.shadowdiff:9090 --fail-on-insufficient-data
  # Only two endpoints, one regression tolerated, Diffy's rule
  shadowdiff gate "GET /api/orders/{id}" "GET /api/products" --max-regressions 1 --rule diffy
  # Machine-readable verdict: endpoints by the API's verdict names (VERDICT_REGRESSION,
  # VERDICT_CLEAN, VERDICT_INSUFFICIENT_DATA; VERDICT_SKIPPED for those listed as SKIPPED)
  shadowdiff gate -o json --since 30m | jq -r '.endpoints[] | select(.verdict == "VERDICT_REGRESSION") | .endpoint'`,
		Args: args(0, -1, "ENDPOINT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := g.validate(cmd); err != nil {
				return err
			}
			tr, err := g.rf.timeRange()
			if err != nil {
				return err
			}
			return withClient(o, func(c *client) error {
				rep, err := g.evaluate(cmd.Context(), c, tr, a)
				if err != nil {
					return err
				}
				if err := o.printer(cmd.OutOrStdout()).value(rep, func(w *tabwriter.Writer) { gateTable(w, rep) }); err != nil {
					return err
				}
				if rep.Result == "FAIL" {
					return &gateFailedError{reason: rep.Reason}
				}
				return nil
			})
		},
	}
	g.rf.add(cmd)
	f := cmd.Flags()
	f.Uint64Var(&g.minSamples, "min-samples", 0, "compared requests an endpoint needs to be judged (0: the collector's minimum)")
	f.IntVar(&g.maxRegressions, "max-regressions", 0, "regressing fields tolerated before the gate fails")
	f.Float64Var(&g.confidence, "confidence", 0, "judge fields by p-value <= 1 - CONFIDENCE (0: the collector's decision)")
	f.StringVar(&g.rule, "rule", ruleStatistical, "decision rule: statistical or diffy")
	f.BoolVar(&g.failInsufficient, "fail-on-insufficient-data", false, "fail when an endpoint has too few compared requests, or none could be judged")
	return cmd
}

func (g *gateOptions) validate(cmd *cobra.Command) error {
	if g.rule != ruleStatistical && g.rule != ruleDiffy {
		return usagef("--rule must be statistical or diffy, got %q", g.rule)
	}
	if g.maxRegressions < 0 {
		return usagef("--max-regressions must not be negative, got %d", g.maxRegressions)
	}
	if cmd.Flags().Changed("confidence") && (g.confidence <= 0 || g.confidence >= 1) {
		return usagef("--confidence must be between 0 and 1 (exclusive), got %g", g.confidence)
	}
	if g.rule == ruleDiffy && g.confidence != 0 {
		return usagef("--confidence applies to the statistical rule, not to --rule diffy")
	}
	return nil
}

// gateReport is the gate's result; -o json/yaml prints it as is.
type gateReport struct {
	Result         string          `json:"result"` // PASS or FAIL
	Reason         string          `json:"reason"`
	Rule           string          `json:"rule"`
	Regressions    int             `json:"regressions"`
	MaxRegressions int             `json:"maxRegressions"`
	Endpoints      []*gateEndpoint `json:"endpoints"`
}

type gateEndpoint struct {
	Endpoint       string       `json:"endpoint"`
	Verdict        string       `json:"verdict"` // one of the verdict* names
	Compared       uint64       `json:"compared"`
	MinSamples     uint64       `json:"minSamples,omitempty"`
	Reason         string       `json:"reason,omitempty"` // why an endpoint is not judged (INSUFFICIENT_DATA, SKIPPED)
	DifferenceRate float64      `json:"differenceRate"`
	NoiseRate      float64      `json:"noiseRate"`
	Regressions    []*gateField `json:"regressions"`
	// Overflow: the collector's overflow endpoint ("GET {other}"), requests
	// to new paths past its --max-endpoints, which are never judged.
	Overflow bool   `json:"overflow,omitempty"`
	Requests uint64 `json:"requests,omitempty"`
	// SupersededBy: the endpoint rule that names this endpoint's paths
	// now; its requests came before the rule and are not judged.
	SupersededBy string `json:"supersededBy,omitempty"`
}

type gateField struct {
	Path             string  `json:"path"`
	RawDifferences   uint64  `json:"rawDifferences"`
	NoiseDifferences uint64  `json:"noiseDifferences"`
	Total            uint64  `json:"total"`
	Definite         uint64  `json:"definite"`
	Confidence       float64 `json:"confidence"`
	PValue           float64 `json:"pValue"`
	DiffyReported    bool    `json:"diffyReported"`
	Reason           string  `json:"reason"`
}

func (g *gateOptions) evaluate(ctx context.Context, c *client, tr *shadowdiffv1.TimeRange, names []string) (*gateReport, error) {
	var selected []*shadowdiffv1.EndpointSummary
	fieldsOf := map[string]*shadowdiffv1.ListFieldsResponse{}
	if len(names) == 0 {
		list, err := call(ctx, c, "", func(ctx context.Context) (*shadowdiffv1.ListEndpointsResponse, error) {
			return c.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{Range: tr})
		})
		if err != nil {
			return nil, err
		}
		selected = list.GetEndpoints()
	}
	for _, n := range names {
		if fieldsOf[n] != nil {
			continue // named twice: judged once
		}
		// Asked by name, an endpoint without traffic in the window has an
		// empty summary (INSUFFICIENT_DATA), not "not found".
		resp, err := g.fields(ctx, c, n, tr)
		if err != nil {
			return nil, err
		}
		fieldsOf[n] = resp
		selected = append(selected, resp.GetEndpoint())
	}

	rep := &gateReport{Rule: g.describeRule(), MaxRegressions: g.maxRegressions, Endpoints: []*gateEndpoint{}}
	for _, e := range selected {
		ge := &gateEndpoint{Endpoint: e.GetEndpoint(), Compared: e.GetCompared(), MinSamples: g.minSamples,
			DifferenceRate: e.GetDifferenceRate(), NoiseRate: e.GetNoiseRate(), Regressions: []*gateField{}}
		rep.Endpoints = append(rep.Endpoints, ge)
		if e.GetOverflow() {
			// Unrelated paths together: a verdict on them would hide a
			// regression or invent one. Real endpoints may be among
			// them, which --fail-on-insufficient-data treats as unjudged.
			ge.Verdict, ge.Reason, ge.Overflow, ge.Requests = verdictSkipped, e.GetVerdictReason(), true, e.GetRequests()
			continue
		}
		why := g.insufficient(e)
		if e.GetSupersededBy() != "" && why != "" {
			// No more requests will come (a rule renamed its paths, or
			// the rule that named it is gone): too few for this gate's
			// rule is final, not worth waiting for. One with enough is
			// judged below, by the gate's rule: a regression stays one.
			ge.Verdict, ge.SupersededBy = verdictSkipped, e.GetSupersededBy()
			ge.Reason = fmt.Sprintf("%s, and no more requests will come (endpoint rule %s names its paths now, or named it and is gone)", why, e.GetSupersededBy())
			continue
		}
		if e.GetCompared() == 0 && e.GetSkippedSideEffect() > 0 {
			// POST, PUT, DELETE...: the shadows' filters answer them
			// locally, so they are never compared and never will be. The
			// collector says so ("side effects only: ..."), but for one
			// before verdict_reason.
			ge.Verdict, ge.Reason = verdictSkipped, e.GetVerdictReason()
			if ge.Reason == "" {
				ge.Reason = fmt.Sprintf("side effects only: %d request(s), nothing to compare", e.GetSkippedSideEffect())
			}
			continue
		}
		if why != "" {
			ge.Verdict, ge.Reason = verdictInsufficient, why
			continue
		}
		fields := fieldsOf[e.GetEndpoint()]
		if fields == nil {
			var err error
			if fields, err = g.fields(ctx, c, e.GetEndpoint(), tr); err != nil {
				return nil, err
			}
		}
		for _, f := range fields.GetFields() {
			if f.GetSuppressedByRule() != "" || !g.regression(e, f) {
				continue
			}
			ge.Regressions = append(ge.Regressions, &gateField{
				Path: f.GetPath(), RawDifferences: f.GetRawDifferences(), NoiseDifferences: f.GetNoiseDifferences(),
				Total: f.GetTotal(), Definite: f.GetDefinite(), Confidence: f.GetConfidence(), PValue: f.GetPValue(),
				DiffyReported: f.GetDiffyReported(), Reason: g.why(e, f),
			})
		}
		ge.Verdict = verdictClean
		if len(ge.Regressions) > 0 {
			ge.Verdict = verdictRegression
		}
		rep.Regressions += len(ge.Regressions)
	}
	g.decide(rep, tr != nil)
	return rep, nil
}

func (g *gateOptions) fields(ctx context.Context, c *client, endpoint string, tr *shadowdiffv1.TimeRange) (*shadowdiffv1.ListFieldsResponse, error) {
	return call(ctx, c, endpointNotFound(endpoint), func(ctx context.Context) (*shadowdiffv1.ListFieldsResponse, error) {
		return c.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: endpoint, Range: tr})
	})
}

// insufficient says why the endpoint cannot be judged, or "": too few
// compared requests for --min-samples (by default, the collector's), or,
// for the statistical rule, for the test to call anything a regression at
// the gate's level (the collector's own verdict says that at its level,
// which --confidence and --rule diffy do not use).
func (g *gateOptions) insufficient(e *shadowdiffv1.EndpointSummary) string {
	minSamples, flag := g.minSamples, "--min-samples"
	if minSamples == 0 {
		minSamples, flag = e.GetMinSamples(), "the collector's --min-samples"
	}
	switch {
	case minSamples == 0:
		// A collector before min_samples and the other verdict fields:
		// only its verdict tells.
		if e.GetVerdict() == shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA {
			return "too few compared requests"
		}
		return ""
	case e.GetCompared() == 0 && e.GetVerdictReason() != "":
		return e.GetVerdictReason() // no request in the window, say
	case e.GetCompared() < minSamples:
		return fmt.Sprintf("needs %d compared requests (%s), has %d", minSamples, flag, e.GetCompared())
	case g.rule == ruleDiffy:
		return ""
	}
	level := g.level(e)
	if level == 0 {
		// Its significant flag holds only from its own minimum on.
		return "the collector is older than this gate and sends no significance level: with --min-samples, give --confidence too"
	}
	if p := e.GetAttainablePValue(); p > level {
		return fmt.Sprintf("needs more compared requests: with %d, even a field differing in every one would have p = %.3g > %s", e.GetCompared(), p, formatLevel(level))
	}
	return ""
}

// level is the significance level of the statistical rule: 1 -
// --confidence, else the collector's (0 from a collector before
// significance_level).
func (g *gateOptions) level(e *shadowdiffv1.EndpointSummary) float64 {
	if g.confidence > 0 {
		return 1 - g.confidence
	}
	return e.GetSignificanceLevel()
}

// formatLevel writes a level as people do: 1 - 0.99 is 0.01, not
// 0.010000000000000009.
func formatLevel(level float64) string {
	return strconv.FormatFloat(level, 'g', 12, 64)
}

// regression decides a field of a judged endpoint by the gate's rule. The
// collector's own decision (significant) holds only from its
// --min-samples on, so the statistical rule compares the p-value with the
// level itself: with a lower --min-samples too.
func (g *gateOptions) regression(e *shadowdiffv1.EndpointSummary, f *shadowdiffv1.FieldStats) bool {
	switch {
	case g.rule == ruleDiffy:
		return f.GetDiffyReported()
	case f.GetRawDifferences() == 0:
		return false
	}
	if level := g.level(e); level > 0 {
		return f.GetPValue() <= level
	}
	return f.GetSignificant()
}

// why explains a regressing field by the rule that found it: the
// collector's reason is about its own decision.
func (g *gateOptions) why(e *shadowdiffv1.EndpointSummary, f *shadowdiffv1.FieldStats) string {
	switch {
	case g.rule == ruleDiffy:
		return fmt.Sprintf("Diffy's rule: differs in %d requests against %d in noise, relative %.1f %% > 20 %%, absolute %.2f %% > 0.03 %%",
			f.GetRawDifferences(), f.GetNoiseDifferences(), f.GetDiffyRelative(), f.GetDiffyAbsolute())
	case f.GetSignificant() && g.confidence == 0:
		return f.GetReason()
	}
	return fmt.Sprintf("differs in %d of %d compared requests against %d in noise, p = %.3g <= %s",
		f.GetRawDifferences(), f.GetTotal(), f.GetNoiseDifferences(), f.GetPValue(), formatLevel(g.level(e)))
}

func (g *gateOptions) describeRule() string {
	switch {
	case g.rule == ruleDiffy:
		return "Diffy's rule (r > n, relative > 20%, absolute > 0.03%)"
	case g.confidence > 0:
		return "statistical test, p-value <= " + formatLevel(1-g.confidence)
	}
	return "statistical test at the collector's confidence"
}

// decide sets the result and a one-line reason.
// windowed says --since, --from or --to narrowed the results.
func (g *gateOptions) decide(rep *gateReport, windowed bool) {
	regressing, insufficient, skipped, overflowEndpoints, superseded := 0, 0, 0, 0, 0
	var overflowed uint64
	for _, e := range rep.Endpoints {
		switch {
		case len(e.Regressions) > 0:
			regressing++
		case e.Verdict == verdictInsufficient:
			insufficient++
		case e.Overflow:
			overflowEndpoints++
			overflowed += e.Requests
		case e.SupersededBy != "":
			superseded++
		case e.Verdict == verdictSkipped:
			skipped++
		}
	}
	judged := len(rep.Endpoints) - insufficient - skipped - overflowEndpoints - superseded
	var why []string
	fail := false
	switch {
	case len(rep.Endpoints) == 0 && windowed:
		// The collector may well have results, outside the window.
		why = append(why, "no request was compared in the window")
		fail = g.failInsufficient
	case len(rep.Endpoints) == 0:
		why = append(why, "no endpoint has been compared yet")
		fail = g.failInsufficient
	case rep.Regressions > g.maxRegressions:
		why = append(why, fmt.Sprintf("%d regressing field(s) in %d endpoint(s), more than --max-regressions %d",
			rep.Regressions, regressing, g.maxRegressions))
		fail = true
	case rep.Regressions > 0:
		why = append(why, fmt.Sprintf("%d regressing field(s), within --max-regressions %d", rep.Regressions, g.maxRegressions))
	case judged == 0 && insufficient == 0:
		why = append(why, "nothing to compare")
	case judged == 0:
		why = append(why, "no endpoint could be judged")
		fail = g.failInsufficient
		if !fail {
			why[len(why)-1] += " (a PASS that judged nothing: --fail-on-insufficient-data fails instead)"
		}
	default:
		why = append(why, fmt.Sprintf("no regression in %d judged endpoint(s)", judged))
	}
	if insufficient > 0 {
		why = append(why, fmt.Sprintf("%d endpoint(s) with too few compared requests to judge", insufficient))
		fail = fail || g.failInsufficient
	}
	if skipped > 0 {
		why = append(why, fmt.Sprintf("%d endpoint(s) with side effects only, not compared", skipped))
	}
	if superseded > 0 {
		why = append(why, fmt.Sprintf("%d endpoint(s) that no more requests will reach (endpoint rules renamed their paths, or were deleted), too few to judge", superseded))
	}
	if overflowEndpoints > 0 {
		why = append(why, fmt.Sprintf("%d request(s) to new paths past the collector's --max-endpoints, not judged (add endpoint rules)", overflowed))
		fail = fail || g.failInsufficient
	}
	rep.Result = "PASS"
	if fail {
		rep.Result = "FAIL"
	}
	rep.Reason = strings.Join(why, "; ")
}

func gateTable(w *tabwriter.Writer, rep *gateReport) {
	if len(rep.Endpoints) > 0 {
		row(w, "ENDPOINT", "VERDICT", "COMPARED", "REGRESSIONS", "DIFF", "NOISE")
		for _, e := range rep.Endpoints {
			regs := u(uint64(len(e.Regressions)))
			if e.Verdict == verdictInsufficient || e.Verdict == verdictSkipped {
				regs = "-"
			}
			row(w, e.Endpoint, enumName(e.Verdict, "VERDICT_"), u(e.Compared), regs, percent(e.DifferenceRate), percent(e.NoiseRate))
		}
	}
	first := true
	for _, e := range rep.Endpoints {
		if e.Reason == "" {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nNot judged:")
			first = false
		}
		fmt.Fprintf(w, "  %s: %s\n", e.Endpoint, e.Reason)
	}
	first = true
	for _, e := range rep.Endpoints {
		for _, f := range e.Regressions {
			if first {
				fmt.Fprintln(w, "\nRegressions:")
				first = false
			}
			line := fmt.Sprintf("  %s  %s: differs in %d of %d compared requests (noise %d), confidence %s, %d definite",
				e.Endpoint, f.Path, f.RawDifferences, f.Total, f.NoiseDifferences, confidence(f.Confidence), f.Definite)
			if f.Reason != "" {
				line += ": " + f.Reason
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(rep.Endpoints) > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "gate: %s: %s (rule: %s)\n", rep.Result, rep.Reason, rep.Rule)
}
