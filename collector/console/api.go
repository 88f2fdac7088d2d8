package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shadowdiff/shadowdiff/collector/internal/window"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// EmitUnpopulated spares the app from knowing proto3 defaults: every counter
// is present, even when zero. 64-bit integers arrive as strings (protojson).
var marshal = protojson.MarshalOptions{EmitUnpopulated: true}

// maxBodyBytes bounds request bodies of the mutating API calls.
const maxBodyBytes = 64 << 10

var indexTemplate = template.Must(template.ParseFS(assets, "assets/index.html"))

func (c *console) index(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := indexTemplate.Execute(&buf, struct {
		Title    string
		ReadOnly bool
	}{c.opts.Title, c.opts.ReadOnly}); err != nil {
		c.log.Error("render index", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(buf.Bytes())
}

func (c *console) info(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"title": c.opts.Title,
		"now":   time.Now().UTC().Format(time.RFC3339),
	})
}

func (c *console) listEndpoints(w http.ResponseWriter, r *http.Request) {
	rng, err := parseRange(r, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidArgument", err.Error())
		return
	}
	resp, err := c.q.ListEndpoints(r.Context(), &shadowdiffv1.ListEndpointsRequest{Range: rng})
	c.reply(w, r, resp, err)
}

func (c *console) listFields(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rng, err := parseRange(r, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidArgument", err.Error())
		return
	}
	includeNoise, err := parseBool(q, "include_noise")
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidArgument", err.Error())
		return
	}
	resp, err := c.q.ListFields(r.Context(), &shadowdiffv1.ListFieldsRequest{
		Endpoint:     q.Get("endpoint"),
		Range:        rng,
		IncludeNoise: includeNoise,
	})
	c.reply(w, r, resp, err)
}

func (c *console) listSamples(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rng, err := parseRange(r, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidArgument", err.Error())
		return
	}
	definite, err := parseBool(q, "definite_only")
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidArgument", err.Error())
		return
	}
	var limit uint64
	if s := q.Get("limit"); s != "" {
		limit, err = strconv.ParseUint(s, 10, 32)
		if err != nil {
			writeError(w, http.StatusBadRequest, "InvalidArgument", fmt.Sprintf("limit: not a count: %q", s))
			return
		}
	}
	resp, err := c.q.ListSamples(r.Context(), &shadowdiffv1.ListSamplesRequest{
		Endpoint:     q.Get("endpoint"),
		Path:         q.Get("path"),
		Range:        rng,
		DefiniteOnly: definite,
		Limit:        uint32(limit),
		PageToken:    q.Get("page_token"),
	})
	c.reply(w, r, resp, err)
}

func (c *console) getRequest(w http.ResponseWriter, r *http.Request) {
	resp, err := c.q.GetRequest(r.Context(), &shadowdiffv1.GetRequestRequest{PairingKey: r.URL.Query().Get("key")})
	c.reply(w, r, resp, err)
}

func (c *console) listNoiseRules(w http.ResponseWriter, r *http.Request) {
	resp, err := c.q.ListNoiseRules(r.Context(), &shadowdiffv1.ListNoiseRulesRequest{Endpoint: r.URL.Query().Get("endpoint")})
	c.reply(w, r, resp, err)
}

// createNoiseRule takes a NoiseRule as protojson. Requiring a JSON content
// type means a cross-site HTML form cannot create rules (browsers send such
// requests only after a CORS preflight, which this handler never grants).
func (c *console) createNoiseRule(w http.ResponseWriter, r *http.Request) {
	if !isJSON(r.Header.Get("Content-Type")) {
		// Not a gRPC code: none means 415, and InvalidArgument is 400 here.
		writeError(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "content type must be application/json")
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidArgument", "read body: "+err.Error())
		return
	}
	rule := &shadowdiffv1.NoiseRule{}
	if err := protojson.Unmarshal(data, rule); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidArgument", "body is not a NoiseRule: "+err.Error())
		return
	}
	resp, err := c.q.CreateNoiseRule(r.Context(), &shadowdiffv1.CreateNoiseRuleRequest{Rule: rule})
	if err == nil {
		// The engine logs every rule change at info; this only says where it came from.
		c.log.Debug("noise rule created from the console", "remote_addr", r.RemoteAddr, "id", resp.GetId())
	}
	c.reply(w, r, resp, err)
}

func (c *console) deleteNoiseRule(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	resp, err := c.q.DeleteNoiseRule(r.Context(), &shadowdiffv1.DeleteNoiseRuleRequest{Id: id})
	if err == nil {
		c.log.Debug("noise rule deleted from the console", "remote_addr", r.RemoteAddr, "id", id)
	}
	c.reply(w, r, resp, err)
}

func (c *console) listEndpointRules(w http.ResponseWriter, r *http.Request) {
	resp, err := c.q.ListEndpointRules(r.Context(), &shadowdiffv1.ListEndpointRulesRequest{})
	c.reply(w, r, resp, err)
}

// deleteEndpointRule deletes a rule added by a user or learned; a learned
// one is then not learned again. Adding rules is left to the CLI, which
// checks patterns as it takes them.
func (c *console) deleteEndpointRule(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	resp, err := c.q.DeleteEndpointRule(r.Context(), &shadowdiffv1.DeleteEndpointRuleRequest{Id: id})
	if err == nil {
		c.log.Debug("endpoint rule deleted from the console", "remote_addr", r.RemoteAddr, "id", id)
	}
	c.reply(w, r, resp, err)
}

// reply writes a Query response as protojson, or the error with the HTTP
// status that matches its gRPC code.
func (c *console) reply(w http.ResponseWriter, r *http.Request, m proto.Message, err error) {
	if err != nil {
		st := status.Convert(err)
		code := httpStatus(st.Code())
		if code >= 500 && !errors.Is(r.Context().Err(), context.Canceled) {
			c.log.Error("query failed", "path", r.URL.Path, "code", st.Code().String(), "err", st.Message())
		}
		writeError(w, code, st.Code().String(), st.Message())
		return
	}
	data, err := marshal.Marshal(m)
	if err != nil {
		c.log.Error("encode response", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "Internal", "encode response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(data)
}

// apiError is the body of every non-2xx API response.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeError(w http.ResponseWriter, httpCode int, grpcCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(httpCode)
	_ = json.NewEncoder(w).Encode(apiError{Error: msg, Code: grpcCode})
}

func httpStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.InvalidArgument, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.FailedPrecondition:
		return http.StatusPreconditionFailed
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.Canceled:
		return 499 // client closed the request (nginx's convention)
	default:
		return http.StatusInternalServerError
	}
}

// parseRange reads the time window: either "window" (a duration back from
// now: "15m", "6h", "7d"; "all" or empty for no bound) or explicit "start"
// and/or "end" (RFC 3339).
func parseRange(r *http.Request, now time.Time) (*shadowdiffv1.TimeRange, error) {
	q := r.URL.Query()
	window, start, end := q.Get("window"), q.Get("start"), q.Get("end")
	if window != "" && window != "all" && (start != "" || end != "") {
		return nil, errors.New("window: give either window or start/end, not both")
	}
	if window != "" && window != "all" {
		d, err := parseWindow(window)
		if err != nil {
			return nil, err
		}
		return &shadowdiffv1.TimeRange{Start: timestamppb.New(now.Add(-d))}, nil
	}
	if start == "" && end == "" {
		return nil, nil
	}
	rng := &shadowdiffv1.TimeRange{}
	if start != "" {
		t, err := time.Parse(time.RFC3339Nano, start)
		if err != nil {
			return nil, fmt.Errorf("start: not an RFC 3339 time: %q", start)
		}
		rng.Start = timestamppb.New(t)
	}
	if end != "" {
		t, err := time.Parse(time.RFC3339Nano, end)
		if err != nil {
			return nil, fmt.Errorf("end: not an RFC 3339 time: %q", end)
		}
		rng.End = timestamppb.New(t)
	}
	if rng.Start != nil && rng.End != nil && !rng.End.AsTime().After(rng.Start.AsTime()) {
		return nil, errors.New("end: must be after start")
	}
	return rng, nil
}

// parseWindow accepts Go durations plus a day suffix ("7d"), as the
// CLI's --since does.
func parseWindow(s string) (time.Duration, error) {
	d, err := window.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("window: %w", err)
	}
	return d, nil
}

func parseBool(q map[string][]string, name string) (bool, error) {
	v := ""
	if vs := q[name]; len(vs) > 0 {
		v = vs[0]
	}
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: not a boolean: %q", name, v)
	}
	return b, nil
}

func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}
