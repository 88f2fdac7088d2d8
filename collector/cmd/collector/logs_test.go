package main

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/collector/internal/testlog"
)

// Every JSON log line has each key once (the console's lines had
// component twice: http, then console), and a rule changed through the
// console is logged once at info, by the engine.
func TestLogLinesHaveUniqueKeysAndOneLinePerRuleChange(t *testing.T) {
	var logs testlog.Buffer
	log := newLogger(&config{logLevel: slog.LevelDebug, logFormat: "json"}, &logs)
	a, stop := startLogged(t, log)
	code, body := postRule(t, a.http.String())
	if code != http.StatusOK {
		t.Fatalf("create a rule through the console: %d %s", code, body)
	}
	var rule struct{ ID string }
	if err := json.Unmarshal([]byte(body), &rule); err != nil || rule.ID == "" {
		t.Fatalf("created rule %s: %v", body, err)
	}
	req, _ := http.NewRequest(http.MethodDelete, "http://"+a.http.String()+"/api/noise-rules?id="+rule.ID, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	counts := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		line := sc.Text()
		keys, err := topLevelKeys(line)
		if err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Errorf("log line has %q twice: %s", k, line)
			}
			seen[k] = true
		}
		var l struct{ Level, Msg, Component string }
		json.Unmarshal([]byte(line), &l)
		counts[l.Level+" "+l.Msg+" "+l.Component]++
	}
	for _, want := range []string{
		"INFO noise rule created engine", "INFO noise rule deleted engine",
		"DEBUG noise rule created from the console console", "DEBUG noise rule deleted from the console console",
	} {
		if counts[want] != 1 {
			t.Errorf("%d lines %q, want 1; logs:\n%s", counts[want], want, logs.String())
		}
	}
	for k, n := range counts {
		if strings.HasPrefix(k, "INFO noise rule") && !strings.HasSuffix(k, " engine") {
			t.Errorf("%d lines %q: a rule change is logged at info by the engine only", n, k)
		}
	}
}

// topLevelKeys lists the keys of a JSON object in order, duplicates kept
// (encoding/json would keep only the last).
func topLevelKeys(line string) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return nil, err
	}
	return keys, nil
}
