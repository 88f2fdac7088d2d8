package envoy

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
)

// startAdmin serves Envoy's admin endpoints the harness supports:
//
//	/stats            "name: value" lines, sorted; ?filter=REGEX keeps matching names
//	/ready            200 "LIVE" once every listener is up, 503 "PRE_INITIALIZING" before
//	/server_info      the state and the listeners' addresses
func (s *Server) startAdmin(addr string) error {
	ln, err := listen(addr)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	s.adminAddr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", s.serveStats)
	mux.HandleFunc("GET /ready", s.serveReady)
	mux.HandleFunc("GET /server_info", s.serveInfo)
	s.admin = &http.Server{Handler: mux}
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		if err := s.admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("admin listener stopped", "err", err)
		}
	}()
	return nil
}

func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	var filter *regexp.Regexp
	if f := r.URL.Query().Get("filter"); f != "" {
		var err error
		if filter, err = regexp.Compile(f); err != nil {
			http.Error(w, "Invalid re2 regex", http.StatusBadRequest)
			return
		}
	}
	stats := s.Stats()
	sort.SliceStable(stats, func(i, j int) bool { return stats[i].Name < stats[j].Name })
	var b strings.Builder
	for _, st := range stats {
		if filter != nil && !filter.MatchString(st.Name) {
			continue
		}
		fmt.Fprintf(&b, "%s: %d\n", st.Name, st.Value)
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	_, _ = w.Write([]byte(b.String()))
}

func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	if !s.live.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("PRE_INITIALIZING\n"))
		return
	}
	_, _ = w.Write([]byte("LIVE\n"))
}

func (s *Server) serveInfo(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	if !s.live.Load() {
		fmt.Fprintf(w, "state: PRE_INITIALIZING\nnode: %s\n", s.cfg.Node.GetId())
		return
	}
	// The listeners are fixed once live.
	fmt.Fprintf(w, "state: LIVE\nnode: %s\n", s.cfg.Node.GetId())
	for _, l := range s.listeners {
		if l.ln != nil {
			fmt.Fprintf(w, "listener %s: %s\n", l.cfg.Name, l.ln.Addr())
		}
	}
}
