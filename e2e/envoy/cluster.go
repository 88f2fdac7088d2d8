package envoy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// errNoHealthyUpstream is Envoy's "no healthy upstream": a STRICT_DNS
// cluster whose names did not resolve yet.
var errNoHealthyUpstream = errors.New("no healthy upstream")

// cluster is a running upstream cluster: its hosts, round robin and a
// connection pool speaking HTTP/1.1 or cleartext HTTP/2.
type cluster struct {
	cfg       *ClusterConfig
	transport *http.Transport
	stats     *clusterStats
	logger    *slog.Logger
	rr        atomic.Uint64

	mu    sync.RWMutex
	hosts []string
}

var _ httpfilter.Cluster = (*cluster)(nil)

func newCluster(cfg *ClusterConfig, stats *statStore, logger *slog.Logger) *cluster {
	c := &cluster{cfg: cfg, stats: newClusterStats(stats, cfg.Name), logger: logger.With("cluster", cfg.Name)}
	if cfg.Type == "STATIC" {
		c.hosts = cfg.Endpoints
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	protocols := new(http.Protocols)
	if cfg.HTTP2 {
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP1(true)
	}
	c.transport = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c.stats.cxTotal.Add(1)
			conn, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				c.stats.cxConnectFail.Add(1)
			}
			return conn, err
		},
		Protocols:           protocols,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     time.Hour, // Envoy's default idle_timeout
		DisableCompression:  true,      // pass Accept-Encoding and bodies through untouched
		HTTP2:               &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second},
	}
	return c
}

// Name implements httpfilter.Cluster.
func (c *cluster) Name() string { return c.cfg.Name }

// HTTP2 implements httpfilter.Cluster.
func (c *cluster) HTTP2() bool { return c.cfg.HTTP2 }

// NextEndpoint implements httpfilter.Cluster: the next host, round robin.
func (c *cluster) NextEndpoint() (string, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.hosts) == 0 {
		return "", fmt.Errorf("cluster %s: %w", c.cfg.Name, errNoHealthyUpstream)
	}
	return c.hosts[(c.rr.Add(1)-1)%uint64(len(c.hosts))], nil
}

// RoundTrip implements httpfilter.Cluster for filter callouts: it sends req
// to the next host over the cluster's protocol. An empty req.Host becomes
// the cluster name, as Envoy's async client does.
func (c *cluster) RoundTrip(req *http.Request) (*http.Response, error) {
	host, err := c.NextEndpoint()
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context()) // the caller's request stays as it was
	out.Body = req.Body
	out.URL.Scheme, out.URL.Host = "http", host
	if out.Host == "" {
		out.Host = c.cfg.Name
	}
	return c.send(out)
}

// send sends req, addressed to one of the cluster's hosts, and keeps the
// cluster's statistics.
func (c *cluster) send(out *http.Request) (*http.Response, error) {
	c.stats.rqTotal.Add(1)
	c.stats.rqActive.Add(1)
	resp, err := c.transport.RoundTrip(out)
	if err != nil {
		c.stats.rqActive.Add(-1)
		if errors.Is(err, context.DeadlineExceeded) {
			c.stats.rqTimeout.Add(1)
		} else {
			c.stats.rqReset.Add(1)
		}
		return nil, err
	}
	c.stats.rqClass.inc(resp.StatusCode)
	resp.Body = &countedBody{ReadCloser: resp.Body, stats: c.stats}
	return resp, nil
}

// refresh keeps a STRICT_DNS cluster's hosts current until ctx ends,
// every dns_refresh_rate after the first resolution (resolveOnce); a
// failed lookup keeps the last known hosts.
func (c *cluster) refresh(ctx context.Context) {
	t := time.NewTicker(c.cfg.DNSRefreshRate)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.resolveOnce(ctx)
		}
	}
}

func (c *cluster) resolveOnce(ctx context.Context) {
	var hosts []string
	for _, ep := range c.cfg.Endpoints {
		name, port, err := net.SplitHostPort(ep)
		if err != nil {
			continue
		}
		ips, err := net.DefaultResolver.LookupIP(ctx, c.cfg.DNSFamily, name)
		if err != nil {
			c.logger.Warn("dns resolution failed", "host", name, "err", err)
			return
		}
		for _, ip := range ips {
			hosts = append(hosts, net.JoinHostPort(ip.String(), port))
		}
	}
	c.mu.Lock()
	c.hosts = hosts
	c.mu.Unlock()
}

func (c *cluster) close() { c.transport.CloseIdleConnections() }

// countedBody counts its response as completed once, when it is closed.
type countedBody struct {
	ReadCloser io.ReadCloser
	once       sync.Once
	stats      *clusterStats
}

func (b *countedBody) Read(p []byte) (int, error) { return b.ReadCloser.Read(p) }

func (b *countedBody) Close() error {
	b.once.Do(func() {
		b.stats.rqActive.Add(-1)
		b.stats.rqCompleted.Add(1)
	})
	return b.ReadCloser.Close()
}

// clusterSet is the server's clusters by name; it implements httpfilter.Clusters.
type clusterSet map[string]*cluster

// Cluster implements httpfilter.Clusters.
func (s clusterSet) Cluster(name string) (httpfilter.Cluster, bool) {
	c, ok := s[name]
	if !ok {
		return nil, false
	}
	return c, true
}
