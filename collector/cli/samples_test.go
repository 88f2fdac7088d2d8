package cli

import (
	"regexp"
	"strings"
	"testing"
)

// The "More:" line repeats every flag given, so following it lists the
// next page of the same selection, not samples outside the window.
func TestSamplesNextPageKeepsEveryFlag(t *testing.T) {
	c := seeded(t)
	orders := c.names(t)[ordersPath]
	r := run(t, c, "samples", orders, regressedField, "--from", "2025-06-01T12:00:00Z", "--to", "2025-06-01T12:01:00Z",
		"--definite", "--limit", "2", "--timeout", "7s", "-o", "wide")
	want := "More: shadowdiff samples 'GET /api/orders/{id}' body.order.total --collector COLLECTOR --definite " +
		"--from 2025-06-01T12:00:00Z --limit 2 --output wide --timeout 7s --to 2025-06-01T12:01:00Z --page-token "
	more := moreLine(r.stdout)
	if r.code != ExitOK || !strings.HasPrefix(more, want) {
		t.Fatalf("samples: %s\nwant a line starting %q", r, want)
	}

	// Follow it: the next two samples, none of the first page's.
	next := shellWords(t, strings.ReplaceAll(strings.TrimPrefix(more, "More: "), "COLLECTOR", c.addr))
	r2 := runEnv(t, nil, nil, next[1:]...)
	first, second := keys(r.stdout), keys(r2.stdout)
	if r2.code != ExitOK || len(first) != 2 || len(second) != 2 || first[1] == second[0] || first[0] == second[0] {
		t.Errorf("next page %q: %s\nfirst page %v, second %v", next, r2, first, second)
	}
}

// --since becomes the --from it stood for: repeated as it was, the window
// would move between pages.
func TestSamplesNextPageFixesSince(t *testing.T) {
	c := seeded(t)
	orders := c.names(t)[ordersPath]
	r := run(t, c, "samples", orders, "--since", "200000h", "--limit", "1")
	more := moreLine(r.stdout)
	if r.code != ExitOK || strings.Contains(more, "--since") ||
		!regexp.MustCompile(` --from 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z `).MatchString(more) {
		t.Errorf("samples --since: %s\nwant the More line with a --from instead of --since", r)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"body.order.total":    "body.order.total",
		"GET /users/{id}":     "'GET /users/{id}'",
		"it's $HOME `x`":      `'it'\''s $HOME ` + "`x`'",
		"":                    "''",
		"1748779221:orders-1": "1748779221:orders-1",
		"=ls":                 "'=ls'",
		"a=b":                 "a=b",
		"tab\there":           "'tab\there'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func moreLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "More: ") {
			return l
		}
	}
	return ""
}

// keys are the pairing keys of a samples table.
func keys(out string) []string {
	var ks []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "orders-") {
			ks = append(ks, f[0])
		}
	}
	return ks
}

// shellWords splits a command line as a POSIX shell would, for the
// quoting shellQuote produces.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case quoted && ch == '\'':
			quoted = false
		case quoted:
			cur.WriteByte(ch)
		case ch == '\'':
			quoted, inWord = true, true
		case ch == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case ch == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
