package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The console answers only to hosts that are its own or listed: a page
// that rebinds its own name to the console gets 403 and nothing else.
func TestConsoleRefusesUnknownHosts(t *testing.T) {
	for _, tc := range []struct {
		host    string
		allowed []string
		ok      bool
	}{
		{"localhost:9091", nil, true},
		{"127.0.0.1:9091", nil, true},
		{"[::1]:9091", nil, true},
		{"10.1.2.3", nil, true},
		{"localhost.:9091", nil, true},
		// Names someone on the user's network can answer for: multicast
		// DNS (.local), LLMNR (single labels), a hostile resolver.
		{"app.localhost:8080", nil, false},
		{"shadowdiff-collector:9091", nil, false},
		{"shadowdiff-collector.shadowdiff.svc:9091", nil, false},
		{"shadowdiff-collector.shadowdiff.svc.cluster.local.:9091", nil, false},
		{"shadowdiff-collector.shadowdiff.svc.cluster.local:9091", []string{".svc.cluster.local"}, true},
		{"shadowdiff-collector:9091", []string{"shadowdiff-collector"}, true},
		{"", nil, true}, // HTTP/1.0 without Host: not a browser
		{"evil.example:9091", nil, false},
		{"localhost.evil.example", nil, false},
		{"svc.evil.example", nil, false},
		{"x.svc.evil.example", nil, false},
		{"shadowdiff-collector.shadowdiff.svc.corp.internal", []string{".svc.corp.internal"}, true},
		{"shadowdiff.corp.example", nil, false},
		{"shadowdiff.corp.example", []string{"shadowdiff.corp.example"}, true},
		{"Shadowdiff.Corp.Example:443", []string{" shadowdiff.corp.example. "}, true},
		{"eu.shadowdiff.corp.example", []string{".corp.example"}, true},
		{"corp.example", []string{".corp.example"}, true},
		{"notcorp.example", []string{".corp.example"}, false},
		{"anything.example", []string{"*"}, true},
	} {
		h := New(nil, Options{AllowedHosts: tc.allowed})
		r := httptest.NewRequest("GET", "/static/app.js", nil)
		r.Host = tc.host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if ok := w.Code == http.StatusOK; ok != tc.ok {
			t.Errorf("host %q, allowed %q: %d %s", tc.host, tc.allowed, w.Code, w.Body)
		}
		if !tc.ok && (w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "--console-allowed-hosts")) {
			t.Errorf("host %q refused with %d %s; want 403 naming --console-allowed-hosts", tc.host, w.Code, w.Body)
		}
	}
}

// Entries other tools' allowed-host settings have, which could never
// match a Host header, are refused with the form to write instead.
func TestCheckAllowedHosts(t *testing.T) {
	for _, ok := range [][]string{nil, {"*"}, {"shadowdiff.example", ".corp.example", " x "}} {
		if err := CheckAllowedHosts(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for entry, want := range map[string]string{
		"*.corp.example":             `".corp.example"`,
		"shadowdiff.example:443":     "without scheme, port or path",
		"https://shadowdiff.example": "without scheme, port or path",
		"[::1]":                      "IP addresses need no entry",
		"shadow*.example":            "stands alone",
	} {
		if err := CheckAllowedHosts([]string{"ok.example", entry}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %s", entry, err, want)
		}
	}
}
