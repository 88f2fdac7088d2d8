package engine

import (
	"container/heap"
	"hash/maphash"
	"math"
	"time"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// numRoles sizes per-role arrays, indexed by Role.
const numRoles = int(shadowdiffv1.Role_ROLE_CANDIDATE) + 1

const (
	primary   = shadowdiffv1.Role_ROLE_PRIMARY
	secondary = shadowdiffv1.Role_ROLE_SECONDARY
	candidate = shadowdiffv1.Role_ROLE_CANDIDATE
)

// pendingReq gathers the digests of one pairing key until it completes or
// its window ends.
type pendingReq struct {
	key     string
	arrival time.Time // first digest's arrival: the window starts here
	digests [numRoles]*shadowdiffv1.ResponseDigest
	// fields holds the body fields of a role's digest once it is stored:
	// digests then keeps the message without them (see slim), to bound
	// memory; response joins the two for the diff.
	fields [numRoles][]flatEntry
	index  int // in the expiry heap
	// closedAs is the endpoint of a request already closed, for a
	// duplicate of one of its digests (offer); the request has no digests.
	closedAs *endpointInfo
}

// response returns a role's digest as the diff sees it; a digest that
// still has its body fields is flattened into scratch.
func (r *pendingReq) response(role shadowdiffv1.Role, scratch *[]flatEntry) response {
	if fs := r.fields[role]; fs != nil {
		return response{d: r.digests[role], fields: fs}
	}
	v, grown := responseOf(r.digests[role], *scratch)
	*scratch = grown
	return v
}

// full returns a role's complete digest (nil when the role is missing).
func (r *pendingReq) full(role shadowdiffv1.Role) *shadowdiffv1.ResponseDigest {
	return full(r.digests[role], r.fields[role])
}

func (r *pendingReq) has(role shadowdiffv1.Role) bool { return r.digests[role] != nil }

// first returns the digest the request is described by: the primary when
// there is one, else the first role present.
func (r *pendingReq) first() *shadowdiffv1.ResponseDigest {
	for _, role := range []shadowdiffv1.Role{primary, candidate, secondary} {
		if d := r.digests[role]; d != nil {
			return d
		}
	}
	return nil
}

// closeReason says why a request left the pairer.
type closeReason int

const (
	closedComplete closeReason = iota // every expected role arrived
	closedExpired                     // its window ended
	closedEvicted                     // MaxPending was reached
)

type closedReq struct {
	req    *pendingReq
	reason closeReason
}

// offerResult says what happened to one offered digest.
type offerResult int

const (
	offerPending   offerResult = iota // stored, waiting for other roles
	offerCompleted                    // completed its request (see closed)
	offerDuplicate                    // the role was already there: first one wins
	offerLate                         // its request was closed without this role
)

// pairer joins digests by pairing key within a window. It is not safe for
// concurrent use; times come from the caller (the engine's clock).
type pairer struct {
	window     time.Duration
	maxPending int
	// complete decides whether a request has every role it should wait for.
	complete func(r *pendingReq) bool

	pending map[string]*pendingReq
	expiry  expiryHeap
	// recent remembers closed keys for recentWindows windows, to tell
	// duplicates and late arrivals (a filter retrying, a collector that was
	// slow to read) from new requests. By a hash of the key (see
	// recentHash): up to MaxPending of them, each a map insert.
	recent      map[uint64]recentReq
	recentOrder []recentKey
	seed        maphash.Seed
}

// recentReq is what the pairer remembers of a closed request: its roles,
// and the endpoint it was counted in (set by setEndpoint when the engine
// finalizes it; empty until then), where a later duplicate is counted.
// The endpoint's strings are the endpoint mapper's, shared by its
// requests: a copy of each request's first digest (a stub of its method
// and paths) was half the collector's live heap at 100k recent keys, and
// the GC marked it on every cycle.
type recentReq struct {
	roles    [numRoles]bool
	endpoint endpointInfo
	expires  int64 // Unix nanoseconds
}

// recentKey is a remembered key in the order it expires. Without
// pointers: the GC does not scan the queue of MaxPending of them.
type recentKey struct {
	key     uint64 // recentHash
	expires int64  // Unix nanoseconds
}

func newPairer(window time.Duration, maxPending int, complete func(*pendingReq) bool) *pairer {
	return &pairer{window: window, maxPending: maxPending, complete: complete,
		pending: map[string]*pendingReq{}, recent: map[uint64]recentReq{}, seed: maphash.MakeSeed()}
}

func (p *pairer) len() int { return len(p.pending) }

// offer adds a digest that arrived at now. Requests it closes (completed,
// or evicted to respect maxPending) are appended to closed.
func (p *pairer) offer(d *shadowdiffv1.ResponseDigest, now time.Time, closed []closedReq) (offerResult, *pendingReq, []closedReq) {
	if r, ok := p.pending[d.PairingKey]; ok {
		if r.has(d.Role) {
			return offerDuplicate, r, closed
		}
		r.digests[d.Role] = d
		if p.complete(r) {
			p.remove(r, now)
			return offerCompleted, r, append(closed, closedReq{r, closedComplete})
		}
		return offerPending, r, closed
	}
	if rec, ok := p.recent[p.recentHash(d.PairingKey)]; ok && now.UnixNano() < rec.expires {
		if rec.roles[d.Role] {
			return offerDuplicate, &pendingReq{key: d.PairingKey, closedAs: &rec.endpoint}, closed
		}
		return offerLate, nil, closed
	}
	r := &pendingReq{key: d.PairingKey, arrival: now}
	r.digests[d.Role] = d
	if p.complete(r) {
		p.remember(r, now)
		return offerCompleted, r, append(closed, closedReq{r, closedComplete})
	}
	for p.maxPending > 0 && len(p.pending) >= p.maxPending {
		old := heap.Pop(&p.expiry).(*pendingReq)
		delete(p.pending, old.key)
		p.remember(old, now)
		closed = append(closed, closedReq{old, closedEvicted})
	}
	p.add(r)
	return offerPending, r, closed
}

// restore re-adds a pending digest loaded from the store after a restart.
// It returns nil for a second digest of the same role.
func (p *pairer) restore(d *shadowdiffv1.ResponseDigest, arrival time.Time) *pendingReq {
	r, ok := p.pending[d.PairingKey]
	if !ok {
		r = &pendingReq{key: d.PairingKey, arrival: arrival}
		p.add(r)
	}
	if r.has(d.Role) {
		return nil
	}
	r.digests[d.Role] = d
	if arrival.Before(r.arrival) {
		r.arrival = arrival
		heap.Fix(&p.expiry, r.index)
	}
	return r
}

// recentRecord is a stored record as the pairer remembers it at load
// (not the whole record: there may be MaxPending of them), closed at its
// time.
type recentRecord struct {
	key string
	rec recentReq // expires is set by restoreRecent
	at  time.Time
}

// recentRecordOf is what the pairer remembers of a stored record: the
// endpoint it names, without resolving its paths again (which would feed
// the path learner at every start).
func recentRecordOf(rec *shadowdiffv1.RequestRecord) (recentRecord, bool) {
	r := &pendingReq{key: rec.GetPairingKey()}
	r.digests[primary], r.digests[secondary], r.digests[candidate] = rec.GetPrimary(), rec.GetSecondary(), rec.GetCandidate()
	if r.first() == nil {
		return recentRecord{}, false
	}
	rr := recentRecord{key: r.key, rec: recentOf(r, time.Time{}), at: rec.GetTime().AsTime()}
	rr.rec.endpoint.key = rec.GetEndpoint()
	return rr, true
}

// restoreRecent remembers the key of a stored record after a restart, as
// closed at its time but no later than now; it reports whether it did
// (not for a key pending or remembered already, nor once the record is
// too old).
func (p *pairer) restoreRecent(r recentRecord, now time.Time) bool {
	if _, ok := p.pending[r.key]; ok {
		return false
	}
	if _, ok := p.recent[p.recentHash(r.key)]; ok {
		return false
	}
	closed := r.at
	if closed.After(now) {
		closed = now
	}
	r.rec.expires = unixNano(closed.Add(recentWindows * p.window))
	if now.UnixNano() >= r.rec.expires {
		return false
	}
	p.keep(r.key, r.rec)
	return true
}

// expire closes the requests whose window ended by now.
func (p *pairer) expire(now time.Time, closed []closedReq) []closedReq {
	for len(p.expiry) > 0 && !now.Before(p.expiry[0].arrival.Add(p.window)) {
		r := heap.Pop(&p.expiry).(*pendingReq)
		delete(p.pending, r.key)
		p.remember(r, now)
		closed = append(closed, closedReq{r, closedExpired})
	}
	for len(p.recentOrder) > 0 && now.UnixNano() >= p.recentOrder[0].expires {
		k := p.recentOrder[0]
		p.recentOrder = p.recentOrder[1:]
		if rec, ok := p.recent[k.key]; ok && now.UnixNano() >= rec.expires {
			delete(p.recent, k.key)
		}
	}
	return closed
}

// nextExpiry returns when the oldest pending request's window ends.
func (p *pairer) nextExpiry() (time.Time, bool) {
	if len(p.expiry) == 0 {
		return time.Time{}, false
	}
	return p.expiry[0].arrival.Add(p.window), true
}

func (p *pairer) add(r *pendingReq) {
	p.pending[r.key] = r
	heap.Push(&p.expiry, r)
}

func (p *pairer) remove(r *pendingReq, now time.Time) {
	heap.Remove(&p.expiry, r.index)
	delete(p.pending, r.key)
	p.remember(r, now)
}

// recentWindows is how many pair windows a closed key is remembered.
const recentWindows = 5

// remember keeps a closed key for recentWindows windows after now, bounded like pending.
func (p *pairer) remember(r *pendingReq, now time.Time) {
	p.keep(r.key, recentOf(r, now.Add(recentWindows*p.window)))
}

// recentOf is what the pairer remembers of a closed request, but its
// endpoint.
func recentOf(r *pendingReq, expires time.Time) recentReq {
	rec := recentReq{expires: unixNano(expires)}
	for role, d := range r.digests {
		rec.roles[role] = d != nil
	}
	return rec
}

// unixNano is t in Unix nanoseconds, the largest for a time past 2262
// (an absurd pair window).
func unixNano(t time.Time) int64 {
	if t.After(time.Unix(0, math.MaxInt64)) {
		return math.MaxInt64
	}
	return t.UnixNano()
}

// setEndpoint sets the endpoint a remembered key was counted in, as the
// engine finalizes its request: resolved then, not when it closed, so
// that a path rule learned in between applies as it does to the request.
// The route name is the digest's own: counted with the request, it is
// not kept (it would keep the digest's strings alive).
func (p *pairer) setEndpoint(key string, info endpointInfo) {
	h := p.recentHash(key)
	if rec, ok := p.recent[h]; ok {
		info.routeName = ""
		rec.endpoint = info
		p.recent[h] = rec
	}
}

// keep adds a closed key to the recent ones, bounded like pending.
func (p *pairer) keep(key string, rec recentReq) {
	if p.maxPending > 0 && len(p.recent) >= p.maxPending && len(p.recentOrder) > 0 {
		delete(p.recent, p.recentOrder[0].key)
		p.recentOrder = p.recentOrder[1:]
	}
	h := p.recentHash(key)
	p.recent[h] = rec
	p.recentOrder = append(p.recentOrder, recentKey{h, rec.expires})
}

// recentHash names a closed key among the recent ones. A 64-bit hash
// with a seed of its own instead of the key: a string-keyed map cost ~3%
// of ingest, and kept the strings of each request's first digest alive.
// A new request's key shares the hash of one of the (at most MaxPending)
// keys remembered with probability MaxPending/2⁶⁴, 5·10⁻¹⁵ for 100k: that
// request would count as a duplicate or a late arrival.
func (p *pairer) recentHash(key string) uint64 { return maphash.String(p.seed, key) }

// remembered returns what the pairer remembers of a closed key.
func (p *pairer) remembered(key string) (recentReq, bool) {
	rec, ok := p.recent[p.recentHash(key)]
	return rec, ok
}

// expiryHeap orders pending requests by arrival.
type expiryHeap []*pendingReq

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if !h[i].arrival.Equal(h[j].arrival) {
		return h[i].arrival.Before(h[j].arrival)
	}
	return h[i].key < h[j].key
}
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *expiryHeap) Push(x any) {
	r := x.(*pendingReq)
	r.index = len(*h)
	*h = append(*h, r)
}
func (h *expiryHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	r.index = -1
	return r
}
