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
		{"app.localhost:8080", nil, true},
		{"shadowdiff-collector:9091", nil, true},
		{"shadowdiff-collector.shadowdiff.svc:9091", nil, true},
		{"shadowdiff-collector.shadowdiff.svc.cluster.local.:9091", nil, true},
		{"", nil, true}, // HTTP/1.0 without Host: not a browser
		{"evil.example:9091", nil, false},
		{"localhost.evil.example", nil, false},
		{"svc.evil.example", nil, false},
		{"x.svc.evil.example", nil, false}, // a name its owner can make
		{"shadowdiff-collector.shadowdiff.svc.corp.internal", nil, false},
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
