// Package console serves the shadowdiff web console: an embedded single-page
// app and a small JSON API (under /api/) that calls the collector's Query
// service in-process.
//
// All asset and API URLs the app uses are relative, so the handler works when
// mounted at "/" or under a prefix with http.StripPrefix (the prefix must end
// in "/").
package console

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

//go:embed assets
var assets embed.FS

// Options configures the console.
type Options struct {
	// Title shown in the page header and the browser tab; default "shadowdiff".
	Title string
	// Logger for API errors; default slog.Default(). The console adds
	// component=console: give it a logger without a component.
	Logger *slog.Logger
	// WatchMaxDuration bounds one live-update (SSE) stream so a graceful
	// server shutdown is never held up for long; browsers reconnect on
	// their own. Default 1 minute.
	WatchMaxDuration time.Duration
	// Heartbeat is the interval of SSE comments that keep idle proxies from
	// closing a quiet stream. Default 15 seconds.
	Heartbeat time.Duration
	// ReadOnly refuses the API's writes (noise rules) with 403: the HTTP
	// listener has no authentication of its own, so where gRPC requires
	// client certificates the console must not be a way around them.
	ReadOnly bool
	// AllowedHosts are the host names the console answers to besides IP
	// literals and localhost: "name", ".domain" for a domain and its
	// subdomains, "*" for any (see GuardHosts).
	AllowedHosts []string
}

type console struct {
	q    shadowdiffv1.QueryServer
	opts Options
	log  *slog.Logger
}

// New returns the console's handler: the app at "/", its JSON API at "/api/".
func New(q shadowdiffv1.QueryServer, opts Options) http.Handler {
	if opts.Title == "" {
		opts.Title = "shadowdiff"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.WatchMaxDuration <= 0 {
		opts.WatchMaxDuration = time.Minute
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	c := &console{q: q, opts: opts, log: opts.Logger.With("component", "console")}

	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux := http.NewServeMux()
	allowed := map[string][]string{} // path -> methods, for 405 answers
	api := func(method, path string, h http.HandlerFunc) {
		mux.HandleFunc(method+" "+path, h)
		allowed[path] = append(allowed[path], method)
	}
	api("GET", "/api/info", c.info)
	api("GET", "/api/endpoints", c.listEndpoints)
	api("GET", "/api/fields", c.listFields)
	api("GET", "/api/samples", c.listSamples)
	api("GET", "/api/requests", c.getRequest)
	api("GET", "/api/noise-rules", c.listNoiseRules)
	api("POST", "/api/noise-rules", c.write(c.createNoiseRule))
	api("DELETE", "/api/noise-rules", c.write(c.deleteNoiseRule))
	api("GET", "/api/endpoint-rules", c.listEndpointRules)
	api("DELETE", "/api/endpoint-rules", c.write(c.deleteEndpointRule))
	api("GET", "/api/watch", c.watch)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if methods, ok := allowed[r.URL.Path]; ok {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeError(w, http.StatusMethodNotAllowed, "Unimplemented", r.Method+" not allowed on "+r.URL.Path)
			return
		}
		writeError(w, http.StatusNotFound, "NotFound", "no such API: "+r.URL.Path)
	})
	mux.HandleFunc("GET /{$}", c.index)
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	return securityHeaders(GuardHosts(opts.AllowedHosts, mux))
}

// write guards a handler that changes the collector's state.
func (c *console) write(h http.HandlerFunc) http.HandlerFunc {
	if !c.opts.ReadOnly {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "PermissionDenied",
			"the console is read-only (--console-read-only): change rules with the shadowdiff CLI over gRPC")
	}
}

// staticHandler serves the embedded assets; they change only with the
// binary, so browsers revalidate rather than cache blindly. The page's
// template is served by index, filled in, never as it is.
func staticHandler(static fs.FS) http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := strings.TrimPrefix(r.URL.Path, "/"); p == "" || path.Base(p) == "index.html" {
			writeError(w, http.StatusNotFound, "NotFound", "no such asset: /static/"+p)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// securityHeaders keeps the console self-contained: nothing may load from
// another origin, and other sites may not frame it.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
