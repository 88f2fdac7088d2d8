package engine

import (
	"container/list"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// maxRepeatKeys bounds the fingerprints remembered for noise learning.
const maxRepeatKeys = 4096

// fingerprint identifies "the same request": method, path, query and body.
type fingerprint struct {
	endpoint, method, path string
	query, body            uint64
}

func fingerprintOf(endpoint string, d *shadowdiffv1.ResponseDigest) (fingerprint, bool) {
	r := d.GetRequest()
	if r == nil || r.BodyTruncated {
		return fingerprint{}, false
	}
	return fingerprint{endpoint: endpoint, method: r.Method, path: r.Path, query: r.QueryHash, body: r.BodyHash}, true
}

// repeatCache remembers the last primary response per fingerprint (LRU),
// so a repeated identical request shows what varies without a new version.
type repeatCache struct {
	max   int
	items map[fingerprint]*list.Element
	order *list.List // front = most recent
}

type repeatItem struct {
	key fingerprint
	d   *response
}

func newRepeatCache(max int) *repeatCache {
	return &repeatCache{max: max, items: map[fingerprint]*list.Element{}, order: list.New()}
}

// swap stores d as the latest response to k and returns the previous one.
func (c *repeatCache) swap(k fingerprint, d *response) *response {
	if el, ok := c.items[k]; ok {
		it := el.Value.(*repeatItem)
		prev := it.d
		it.d = d
		c.order.MoveToFront(el)
		return prev
	}
	if c.order.Len() >= c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*repeatItem).key)
	}
	c.items[k] = c.order.PushFront(&repeatItem{key: k, d: d})
	return nil
}

// forget drops the fingerprints of an endpoint (all when empty).
func (c *repeatCache) forget(endpoint string) {
	for k, el := range c.items {
		if endpoint == "" || k.endpoint == endpoint {
			c.order.Remove(el)
			delete(c.items, k)
		}
	}
}
