package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// enumName is an enum value's name without its type prefix:
// VERDICT_REGRESSION → REGRESSION.
func enumName(name, prefix string) string {
	return strings.TrimPrefix(name, prefix)
}

func verdict(v shadowdiffv1.Verdict) string {
	if v == shadowdiffv1.Verdict_VERDICT_UNSPECIFIED {
		return "-"
	}
	return enumName(v.String(), "VERDICT_")
}

// endpointVerdict is the verdict column of an endpoint: SKIPPED, as gate
// says, for an endpoint that is never judged (EndpointSummary.NeverJudged),
// whose API verdict is INSUFFICIENT_DATA with the reason.
func endpointVerdict(e *shadowdiffv1.EndpointSummary) string {
	if e.NeverJudged() {
		return "SKIPPED"
	}
	return verdict(e.GetVerdict())
}

func rating(r shadowdiffv1.Rating) string {
	if r == shadowdiffv1.Rating_RATING_UNSPECIFIED {
		return "-"
	}
	return enumName(r.String(), "RATING_")
}

func kind(k shadowdiffv1.DiffKind) string {
	return strings.ToLower(enumName(k.String(), "DIFF_KIND_"))
}

func noiseClass(c shadowdiffv1.NoiseClass) string {
	if c == shadowdiffv1.NoiseClass_NOISE_CLASS_UNSPECIFIED {
		return "-"
	}
	return strings.ToLower(enumName(c.String(), "NOISE_CLASS_"))
}

func role(r shadowdiffv1.Role) string {
	return strings.ToLower(enumName(r.String(), "ROLE_"))
}

// kinds lists kind counts: "value:12 missing:3".
func kinds(ks []*shadowdiffv1.KindCount) string {
	if len(ks) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(ks))
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s:%d", kind(k.GetKind()), k.GetCount()))
	}
	return strings.Join(parts, " ")
}

// percent formats a rate in [0, 1] as a percentage.
func percent(rate float64) string {
	return strconv.FormatFloat(rate*100, 'f', 1, 64) + "%"
}

// confidence formats 1-p; values that round to 100 % say so honestly.
func confidence(c float64) string {
	if c >= 0.99995 {
		return ">99.99%"
	}
	return strconv.FormatFloat(c*100, 'f', 2, 64) + "%"
}

func pValue(p float64) string {
	return strconv.FormatFloat(p, 'g', 3, 64)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func timestamp(ts *timestamppb.Timestamp) string {
	if ts == nil || (ts.GetSeconds() == 0 && ts.GetNanos() == 0) {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

func orAll(endpoint string) string {
	if endpoint == "" {
		return "(all endpoints)"
	}
	return endpoint
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// entryValue shows a field's value on one side: the raw value when the
// filter was allowed to collect it, else its type, shape and hash.
func entryValue(e *shadowdiffv1.FieldEntry) string {
	if e == nil {
		return "(missing)"
	}
	if e.RawValue != nil {
		return truncate(strconv.Quote(e.GetRawValue()), 40)
	}
	var parts []string
	if t := e.GetType(); t != shadowdiffv1.JsonType_JSON_TYPE_UNSPECIFIED {
		parts = append(parts, strings.ToLower(enumName(t.String(), "JSON_TYPE_")))
	}
	if s := e.GetShape(); s != shadowdiffv1.ValueShape_VALUE_SHAPE_UNSPECIFIED {
		parts = append(parts, strings.ToLower(enumName(s.String(), "VALUE_SHAPE_")))
	}
	parts = append(parts, fmt.Sprintf("#%016x", e.GetValueHash()))
	return strings.Join(parts, " ")
}

// bytesText formats a size in bytes.
func bytesText(n uint64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatUint(n, 10) + " B"
}

// shellQuote returns s as one POSIX shell word: unchanged when it holds
// only characters no shell treats specially, else in single quotes (inside
// which nothing is special; a quote closes them, is escaped, reopens them).
func shellQuote(s string) string {
	// A leading '=' is quoted too: zsh expands =word to a command's path.
	if s != "" && s[0] != '=' && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
