package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/collector/server"
)

// delete ID... deletes every id that exists, as kubectl delete does: each
// one missing is an error line on stderr, and the command fails at the end.
func TestDeleteGoesOnPastMissingIDs(t *testing.T) {
	c := startCollector(t, server.Options{})
	for _, tc := range []struct {
		cmd, kind string
		add       [][]string
	}{
		{"noise", "noise rule", [][]string{{"add", "body.a"}, {"add", "body.b"}}},
		{"endpoint-rules", "endpoint rule", [][]string{
			{"add", "/a/{x}", "GET /a/{x}", "--method", "GET"}, {"add", "/b/{x}", "GET /b/{x}", "--method", "GET"}}},
	} {
		var ids []string
		for _, a := range tc.add {
			r := run(t, c, append(append([]string{tc.cmd}, a...), "-o", "json")...)
			var rule struct{ ID string }
			if err := json.Unmarshal([]byte(r.stdout), &rule); r.code != ExitOK || err != nil {
				t.Fatalf("%s %q: %v\n%s", tc.cmd, a, err, r)
			}
			ids = append(ids, rule.ID)
		}
		r := run(t, c, tc.cmd, "delete", ids[0], "missing-1", ids[1], "missing-2")
		wantOut := tc.kind + " " + ids[0] + " deleted\n" + tc.kind + " " + ids[1] + " deleted\n"
		wantErr := "Error: " + tc.kind + ` "missing-1" not found; run ` + "`shadowdiff " + tc.cmd + " list`\n" +
			"Error: " + tc.kind + ` "missing-2" not found; run ` + "`shadowdiff " + tc.cmd + " list`\n"
		if r.code != ExitFailed || r.stdout != wantOut || r.stderr != wantErr {
			t.Errorf("%s delete: %s\nwant exit 2, stdout\n%sstderr\n%s", tc.cmd, r, wantOut, wantErr)
		}
		if r := run(t, c, tc.cmd, "list"); strings.Contains(r.stdout, ids[1]) {
			t.Errorf("%s list after delete still shows %s: %s", tc.cmd, ids[1], r)
		}
	}
}

// An error that is not about the id stops the command: every other id
// would fail the same way.
func TestDeleteStopsWhenTheCollectorIsUnreachable(t *testing.T) {
	r := run(t, nil, "--collector", "127.0.0.1:1", "noise", "delete", "nr-1", "nr-2", "nr-3")
	if r.code != ExitFailed || strings.Count(r.stderr, "Error: ") != 1 || !strings.Contains(r.stderr, "cannot reach collector") {
		t.Errorf("noise delete with no collector: %s\nwant one error, cannot reach collector", r)
	}
}
