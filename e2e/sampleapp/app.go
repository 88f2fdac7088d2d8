// Package sampleapp is the demo's httpbin-like JSON shop service. One binary
// plays three parts: v1 (the primary), a second v1 (the noise baseline) and
// v2 (the candidate).
//
// Every response carries noise of the kinds production has (timestamps,
// random ids, a per-instance counter and host name, arrays in random order,
// varying headers), so two v1 instances never answer byte for byte alike.
// v2 carries real changes of each kind shadowdiff reports, deterministic per
// input. Changes and Noise list both in the query API's field-path namespace,
// so tests assert against them instead of hard-coding paths.
package sampleapp

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Variant is the version of the service an instance plays.
type Variant string

const (
	V1 Variant = "v1"
	V2 Variant = "v2"
)

// ParseVariant accepts "v1" or "v2".
func ParseVariant(s string) (Variant, error) {
	switch v := Variant(s); v {
	case V1, V2:
		return v, nil
	}
	return "", fmt.Errorf("variant %q: want v1 or v2", s)
}

// ShadowHeader is the header the shadowdiff filter adds to mirrored requests;
// the app counts such requests separately in its stats.
const ShadowHeader = "x-shadowdiff-shadow"

// Config configures one instance.
type Config struct {
	Variant Variant
	// Instance names the instance (e.g. "v1-primary"); it appears in the
	// x-served-by header and the body's meta.host, so it is noise.
	Instance string
	// Hostname defaults to os.Hostname; meta.host is "<hostname>/<instance>".
	Hostname string
	Logger   *slog.Logger
}

// App is one instance of the sample service. It is an http.Handler.
type App struct {
	cfg     Config
	host    string
	mux     *http.ServeMux
	counter atomic.Uint64
	stats   *stats
	faults  faults

	reportOnce sync.Once
	reportRows []byte // the deterministic part of GET /report, encoded once
}

// New returns an instance. The request counter starts at a random offset so
// that two instances that receive the same requests still differ.
func New(cfg Config) (*App, error) {
	if _, err := ParseVariant(string(cfg.Variant)); err != nil {
		return nil, err
	}
	if cfg.Instance == "" {
		cfg.Instance = string(cfg.Variant)
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, host: cfg.Hostname + "/" + cfg.Instance, mux: http.NewServeMux(), stats: newStats()}
	start, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return nil, fmt.Errorf("sampleapp: seed counter: %w", err)
	}
	a.counter.Store(start.Uint64())

	a.mux.HandleFunc("GET /users/{id}", a.getUser)
	a.mux.HandleFunc("PUT /users/{id}", a.putUser)
	a.mux.HandleFunc("GET /orders", a.listOrders)
	a.mux.HandleFunc("POST /orders", a.createOrder)
	a.mux.HandleFunc("DELETE /orders/{id}", a.deleteOrder)
	a.mux.HandleFunc("GET /catalog/items", a.catalog)
	a.mux.HandleFunc("GET /health", a.health)
	a.mux.HandleFunc("GET /report", a.report)
	a.mux.HandleFunc("GET /export", a.export)
	a.mux.HandleFunc("GET /avatar/{id}", a.avatar)
	a.mux.HandleFunc("GET /legacy", a.legacy)
	a.mux.HandleFunc("GET /__stats", a.serveStats)
	a.mux.HandleFunc("/__fault", a.serveFault)
	return a, nil
}

// Variant returns the instance's variant.
func (a *App) Variant() Variant { return a.cfg.Variant }

// ServeHTTP serves the request and counts it by route (except the /__
// control endpoints), after the fault set through /__fault if any.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := a.counter.Add(1)
	w.Header().Set("x-served-by", a.cfg.Instance)
	w.Header().Set("x-backend-trace", randomHex(8))
	if strings.HasPrefix(r.URL.Path, "/__") {
		a.mux.ServeHTTP(w, r) // control endpoints: not counted, never faulted
		return
	}
	_, route := a.mux.Handler(r)
	if route == "" {
		route = "unmatched"
	}
	// Counted before any fault, so a reset or delayed request still shows
	// it reached the instance.
	shadow := r.Header.Get(ShadowHeader) != "" || strings.Contains(r.Host, "-shadow")
	a.stats.add(route, shadow)
	if a.inject(w, r) {
		return
	}
	a.mux.ServeHTTP(w, r)
	a.cfg.Logger.Debug("request", "method", r.Method, "path", r.URL.Path, "route", route, "shadow", shadow, "n", n)
}

// meta is the noise block most JSON responses carry.
type meta struct {
	RequestID string `json:"request_id"`
	ServedAt  string `json:"served_at"`
	Host      string `json:"host"`
	Counter   uint64 `json:"counter"`
}

func (a *App) meta() meta {
	return meta{RequestID: uuid(), ServedAt: now(), Host: a.host, Counter: a.counter.Load()}
}

func (a *App) getUser(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r.PathValue("id"))
	if !ok {
		return
	}
	u := makeUser(id, a.cfg.Variant)
	mrand.Shuffle(len(u.Roles), func(i, j int) { u.Roles[i], u.Roles[j] = u.Roles[j], u.Roles[i] })
	writeJSON(w, http.StatusOK, struct {
		User user `json:"user"`
		Meta meta `json:"meta"`
	}{u, a.meta()})
}

func (a *App) putUser(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r.PathValue("id"))
	if !ok {
		return
	}
	var patch struct {
		Name  *string `json:"name"`
		Email *string `json:"email"`
	}
	if !readJSON(w, r, &patch) {
		return
	}
	// The acknowledgement is the same in v1 and v2: side-effect routes carry
	// no injected change (their mirrors never reach the shadows anyway).
	u := makeUser(id, V1)
	if patch.Name != nil {
		u.Name = *patch.Name
	}
	if patch.Email != nil {
		u.Email = *patch.Email
	}
	type ack struct {
		ID    int    `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	writeJSON(w, http.StatusOK, struct {
		User    ack  `json:"user"`
		Updated bool `json:"updated"`
		Meta    meta `json:"meta"`
	}{ack{u.ID, u.Name, u.Email}, true, a.meta()})
}

func (a *App) listOrders(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r.URL.Query().Get("user"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		User   int     `json:"user"`
		Orders []order `json:"orders"`
		Meta   meta    `json:"meta"`
	}{id, makeOrders(id, a.cfg.Variant), a.meta()})
}

func (a *App) createOrder(w http.ResponseWriter, r *http.Request) {
	var req struct {
		User  int `json:"user"`
		Items []struct {
			SKU string `json:"sku"`
			Qty int    `json:"qty"`
		} `json:"items"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.User < 1 || req.User > MaxUserID || len(req.Items) == 0 {
		writeError(w, http.StatusBadRequest, "user and items are required")
		return
	}
	n := 0
	for _, it := range req.Items {
		n += it.Qty
	}
	w.Header().Set("Location", fmt.Sprintf("/orders/%d", a.counter.Load()))
	writeJSON(w, http.StatusCreated, struct {
		Order order `json:"order"`
		Meta  meta  `json:"meta"`
	}{order{ID: int(a.counter.Load()), User: req.User, Currency: "EUR", Status: "pending", Items: n, CreatedAt: now()}, a.meta()})
}

func (a *App) deleteOrder(w http.ResponseWriter, r *http.Request) {
	if _, err := strconv.Atoi(r.PathValue("id")); err != nil {
		writeError(w, http.StatusBadRequest, "order id must be an integer")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *App) catalog(w http.ResponseWriter, r *http.Request) {
	page := 1
	if p := r.URL.Query().Get("page"); p != "" {
		var err error
		if page, err = strconv.Atoi(p); err != nil || page < 1 || page > 500 {
			writeError(w, http.StatusBadRequest, "page must be between 1 and 500")
			return
		}
	}
	f := featured(page)
	mrand.Shuffle(len(f), func(i, j int) { f[i], f[j] = f[j], f[i] })
	if a.cfg.Variant == V2 {
		w.Header().Set("Cache-Control", "no-cache")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=60")
	}
	writeJSON(w, http.StatusOK, struct {
		Page     int      `json:"page"`
		Items    []item   `json:"items"`
		Featured []string `json:"featured"`
		Meta     meta     `json:"meta"`
	}{page, makeItems(page, a.cfg.Variant), f, a.meta()})
}

func (a *App) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "host": a.host, "time": now()})
}

// report writes the large body: the deterministic rows first, the noise
// last, so a truncated digest of the first MiB sees no noise at all.
func (a *App) report(w http.ResponseWriter, r *http.Request) {
	a.reportOnce.Do(func() {
		rows, err := json.Marshal(makeReportRows())
		if err != nil {
			panic(err) // plain structs: cannot fail
		}
		a.reportRows = rows
	})
	m, _ := json.Marshal(a.meta())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(`{"title":"Daily sales by region","rows":`)+len(a.reportRows)+len(`,"meta":`)+len(m)+2))
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, `{"title":"Daily sales by region","rows":`)
	w.Write(a.reportRows)
	io.WriteString(w, `,"meta":`)
	w.Write(m)
	io.WriteString(w, "}\n")
}

// export answers gzip-compressed JSON whatever the request's Accept-Encoding,
// as some legacy exporters do; v2 bumps the schema version.
func (a *App) export(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r.URL.Query().Get("user"))
	if !ok {
		return
	}
	schema := 1
	if a.cfg.Variant == V2 {
		schema = 2
	}
	type line struct {
		Order int     `json:"order"`
		Total float64 `json:"total"`
	}
	var lines []line
	for _, o := range makeOrders(id, V1) {
		lines = append(lines, line{o.ID, o.Total})
	}
	body, _ := json.Marshal(map[string]any{
		"schema_version": schema, "user": id, "lines": lines,
		"exported_at": now(), "export_id": uuid(),
	})
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(body)
	zw.Close()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

func (a *App) avatar(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r.PathValue("id"))
	if !ok {
		return
	}
	b := avatar(id)
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// legacy is a text/plain endpoint that v2 retires: same body, status 404.
func (a *App) legacy(w http.ResponseWriter, r *http.Request) {
	status := http.StatusOK
	if a.cfg.Variant == V2 {
		status = http.StatusNotFound
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "LEGACY REPORT\nquery: %s\nstatus: archived\n", r.URL.RawQuery)
}

func userID(w http.ResponseWriter, s string) (int, bool) {
	id, err := strconv.Atoi(s)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "user id must be a positive integer")
		return 0, false
	}
	if id > MaxUserID {
		writeError(w, http.StatusNotFound, "no such user")
		return 0, false
	}
	return id, true
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
