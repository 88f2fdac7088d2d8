package envoy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

type connIDKey struct{}

// listener is a running listener with its connection manager.
type listener struct {
	srv       *Server
	cfg       *Listener
	routes    *routeTable
	factories []httpfilter.Factory
	stats     *hcmStats
	http      *http.Server
	ln        net.Listener
}

func (s *Server) newListener(ctx context.Context, lc *Listener) (*listener, error) {
	l := &listener{srv: s, cfg: lc, routes: newRouteTable(lc.HCM.Routes), stats: newHCMStats(s.stats, lc.HCM.StatPrefix)}
	for _, fc := range lc.HCM.Filters {
		f, err := s.loadWasm(ctx, fc)
		if err != nil {
			return nil, err
		}
		l.factories = append(l.factories, f)
	}
	protocols := new(http.Protocols)
	switch lc.HCM.Codec {
	case CodecHTTP1:
		protocols.SetHTTP1(true)
	case CodecHTTP2:
		protocols.SetUnencryptedHTTP2(true)
	default:
		protocols.SetHTTP1(true)
		protocols.SetUnencryptedHTTP2(true)
	}
	l.http = &http.Server{
		Handler:   l,
		Protocols: protocols,
		ErrorLog:  slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connIDKey{}, s.connIDs.Add(1))
		},
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				l.stats.cxTotal.Add(1)
				l.stats.cxActive.Add(1)
			case http.StateClosed, http.StateHijacked:
				l.stats.cxActive.Add(-1)
			}
		},
	}
	return l, nil
}

func (l *listener) listen() error {
	ln, err := listen(l.cfg.Address)
	if err != nil {
		return err
	}
	l.ln = ln
	l.srv.serving.Add(1)
	go func() {
		defer l.srv.serving.Done()
		if err := l.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.srv.logger.Error("listener stopped", "listener", l.cfg.Name, "err", err)
		}
	}()
	return nil
}

// ServeHTTP runs one stream.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	newStream(l, w, r).run()
}
