// Package engine is the core of the shadowdiff collector: it validates and
// pairs digests, diffs primary against candidate and secondary, aggregates
// per endpoint and field, decides which differences are regressions, and
// serves the Query API.
package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Options configure an Engine; zero values take defaults.
type Options struct {
	PairWindow      time.Duration // default 30s
	MaxPending      int           // default 100000
	Retention       time.Duration // default 168h
	SamplesPerField int           // default 20
	Confidence      float64       // default 0.99
	MinSamples      int           // default 200
	Logger          *slog.Logger
	Registerer      prometheus.Registerer // may be nil; bounded label sets only (endpoint, role, reason — never field paths or request ids)
	Now             func() time.Time      // nil = time.Now
}

// Engine pairs, diffs and aggregates digests and answers queries.
type Engine struct {
	opts Options
}

// Open opens (or creates) the engine's store in dir.
func Open(dir string, opts Options) (*Engine, error) {
	return &Engine{opts: opts}, nil
}

// Ingest validates each digest; invalid ones are rejected with a reason
// (index into ds), valid ones are stored durably before it returns. err only
// for internal failures (store I/O).
func (e *Engine) Ingest(ctx context.Context, ds []*shadowdiffv1.ResponseDigest) (accepted int, rejected []*shadowdiffv1.Rejection, err error) {
	return 0, nil, nil
}

// QueryServer returns the Query API over the engine's results.
func (e *Engine) QueryServer() shadowdiffv1.QueryServer {
	return shadowdiffv1.UnimplementedQueryServer{}
}

// Flush force-closes pairs whose window ended.
func (e *Engine) Flush(ctx context.Context) error { return nil }

// Close flushes and closes the store.
func (e *Engine) Close() error { return nil }
