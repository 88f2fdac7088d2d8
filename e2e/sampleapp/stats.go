package sampleapp

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
)

// Stats counts the requests an instance received, by route ("POST /orders",
// the ServeMux pattern; "unmatched" for the rest). Shadow counts the subset
// that arrived marked as mirrors (the x-shadowdiff-shadow header or a
// "-shadow" authority). GET /__stats itself is not counted.
type Stats struct {
	Instance string            `json:"instance"`
	Variant  Variant           `json:"variant"`
	Requests map[string]uint64 `json:"requests"`
	Shadow   map[string]uint64 `json:"shadow"`
}

// Count returns the requests received for a route such as "POST /orders".
func (s Stats) Count(route string) uint64 { return s.Requests[route] }

// SideEffects sums the requests received on routes whose method is not
// GET, HEAD or OPTIONS: for a shadow instance it must stay 0 unless the
// filter's side_effects.allow_* let them through.
func (s Stats) SideEffects() uint64 {
	var n uint64
	for route, c := range s.Requests {
		method, _, _ := strings.Cut(route, " ")
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, "unmatched":
		default:
			n += c
		}
	}
	return n
}

type stats struct {
	mu       sync.Mutex
	requests map[string]uint64
	shadow   map[string]uint64
}

func newStats() *stats {
	return &stats{requests: map[string]uint64{}, shadow: map[string]uint64{}}
}

func (s *stats) add(route string, shadow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[route]++
	if shadow {
		s.shadow[route]++
	}
}

// Stats returns a snapshot of the counters.
func (a *App) Stats() Stats {
	a.stats.mu.Lock()
	defer a.stats.mu.Unlock()
	return Stats{Instance: a.cfg.Instance, Variant: a.cfg.Variant,
		Requests: maps.Clone(a.stats.requests), Shadow: maps.Clone(a.stats.shadow)}
}

func (a *App) serveStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.Stats())
}

// FetchStats reads GET /__stats of a running instance (base is "http://host:port").
func FetchStats(ctx context.Context, client *http.Client, base string) (Stats, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/__stats", nil)
	if err != nil {
		return Stats{}, fmt.Errorf("sampleapp stats: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Stats{}, fmt.Errorf("sampleapp stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Stats{}, fmt.Errorf("sampleapp stats: GET %s/__stats: %s", base, resp.Status)
	}
	var s Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return Stats{}, fmt.Errorf("sampleapp stats: decode: %w", err)
	}
	return s, nil
}
