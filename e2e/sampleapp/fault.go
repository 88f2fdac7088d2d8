package sampleapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Fault makes an instance misbehave, for fault tests: a candidate that
// times out or resets must leave the primary unaffected. Set it on one
// instance through PUT /__fault (the e2e tests reach the instance directly,
// not through the sidecar); DELETE /__fault clears it. GET /health and the
// /__ endpoints are never affected, so readiness checks keep passing.
type Fault struct {
	// Delay holds every response this long before answering.
	Delay Duration `json:"delay,omitempty"`
	// Reset closes the connection without a response (a TCP reset).
	Reset bool `json:"reset,omitempty"`
	// Status, when not 0, replaces every response with this status and a
	// JSON error body.
	Status int `json:"status,omitempty"`
}

// Duration is a time.Duration that reads and writes as "1.5s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"2s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

type faults struct {
	mu sync.Mutex
	f  Fault
}

func (f *faults) get() Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f
}

func (f *faults) set(v Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.f = v
}

// exempt: paths a fault never touches.
func exempt(path string) bool { return path == "/health" || strings.HasPrefix(path, "/__") }

// inject applies the current fault; it reports whether the request was
// answered (or dropped) by the fault.
func (a *App) inject(w http.ResponseWriter, r *http.Request) bool {
	if exempt(r.URL.Path) {
		return false
	}
	f := a.faults.get()
	if f.Delay > 0 {
		select {
		case <-time.After(time.Duration(f.Delay)):
		case <-r.Context().Done():
			return true
		}
	}
	if f.Reset {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // close with RST, not FIN
				}
				conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2 or no hijacking: abort the stream
	}
	if f.Status != 0 {
		writeError(w, f.Status, "injected fault")
		return true
	}
	return false
}

func (a *App) serveFault(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPut:
		var f Fault
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeError(w, http.StatusBadRequest, "bad fault: "+err.Error())
			return
		}
		if f.Status != 0 && (f.Status < 100 || f.Status > 599) {
			writeError(w, http.StatusBadRequest, "bad fault: status must be 100..599")
			return
		}
		a.faults.set(f)
	case http.MethodDelete:
		a.faults.set(Fault{})
	}
	writeJSON(w, http.StatusOK, a.faults.get())
}

// SetFault sets (or, with the zero Fault, clears) the fault of a running
// instance (base is "http://host:port").
func SetFault(ctx context.Context, client *http.Client, base string, f Fault) error {
	if client == nil {
		client = http.DefaultClient
	}
	body, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("sampleapp fault: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimSuffix(base, "/")+"/__fault", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sampleapp fault: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("sampleapp fault: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sampleapp fault: PUT %s/__fault: %s", base, resp.Status)
	}
	return nil
}
