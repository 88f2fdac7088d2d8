package proxywasm

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// testCluster is an upstream cluster for callouts: static endpoints, round
// robin, HTTP/1.1 or h2c.
type testCluster struct {
	name      string
	endpoints []string
	h2        bool
	mu        sync.Mutex
	next      int
	transport *http.Transport
}

func newTestCluster(name string, h2 bool, endpoints ...string) *testCluster {
	tr := &http.Transport{}
	if h2 {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr.Protocols = &p
	}
	return &testCluster{name: name, endpoints: endpoints, h2: h2, transport: tr}
}

func (c *testCluster) Name() string { return c.name }
func (c *testCluster) HTTP2() bool  { return c.h2 }

func (c *testCluster) NextEndpoint() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.endpoints) == 0 {
		return "", fmt.Errorf("cluster %s has no endpoints", c.name)
	}
	ep := c.endpoints[c.next%len(c.endpoints)]
	c.next++
	return ep, nil
}

func (c *testCluster) RoundTrip(req *http.Request) (*http.Response, error) {
	ep, err := c.NextEndpoint()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Host = req.URL.Host
	r.URL.Host = ep
	return c.transport.RoundTrip(r)
}

type testClusters map[string]*testCluster

func (cs testClusters) Cluster(name string) (httpfilter.Cluster, bool) {
	c, ok := cs[name]
	return c, ok
}
