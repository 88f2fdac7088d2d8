package plugin

import (
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/shadowdiff/shadowdiff/filter/digest"
	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// safeMethods are read-only (RFC 9110 §9.2.1), so shadows may serve them.
// TRACE is safe too but echoes the request: it is not worth mirroring.
var safeMethods = []string{"GET", "HEAD", "OPTIONS"}

// Stream is the state of one HTTP stream. It only observes: it never changes
// what a primary request or response carries, and it returns Continue
// everywhere except after blocking a shadow's side effect.
type Stream struct {
	root *Root
	// active: this stream will be digested.
	active    bool
	shadow    bool
	skip      wire.SkipReason
	startTime time.Time
	digest    wire.ResponseDigest
	reqHash   digest.Hasher
	reqBody   uint64

	sawResponse bool
	// ended: the response's end of stream was seen (headers or last body
	// chunk with end_of_stream, or trailers). A stream done without it was
	// cut off (reset, client gone, timeout).
	ended       bool
	respHeaders []Header
	// respTrailers are kept for the digest (TrailersHash).
	respTrailers []Header
	respStart    time.Time
	contentType  string
	encoding     string
	body         []byte
	bodySize     uint64
	truncated    bool
	// kept holds the strings the stream keeps past a callback (see keep).
	kept []byte
	// queued: OnDone handed the response to the root, which has not
	// digested it yet; released: the proxy released the stream meanwhile.
	queued, released bool
}

// routeNameProperty is Envoy's attribute for the route's name.
var routeNameProperty = []string{"xds", "route_name"}

// blockedReplyHeaders mark the local reply to a blocked mirrored write.
var blockedReplyHeaders = []Header{{"x-shadowdiff", "side-effect-blocked"}}

// keep copies v into the stream's own memory: what the host returns is only
// valid during the callback. A full buffer is replaced, never grown in
// place, so the strings kept before stay where they are.
func (s *Stream) keep(v string) string {
	if v == "" {
		return ""
	}
	if cap(s.kept)-len(s.kept) < len(v) {
		s.kept = make([]byte, 0, max(2*cap(s.kept), len(v), 512))
	}
	start := len(s.kept)
	s.kept = append(s.kept, v...)
	return unsafe.String(&s.kept[start], len(v))
}

// maxPooledBuffer bounds the body and string buffers a released stream
// keeps: a burst of large responses must not stay held by 256 pooled streams.
const maxPooledBuffer = 64 << 10

// Release hands a finished stream back to its root for reuse; the proxy
// calls no callback of it after, and the strings keep handed out end here.
// A stream whose response waits for its digest (OnDone) keeps its buffers
// until the root has digested it, and is recycled then.
func (s *Stream) Release() {
	if s.queued {
		s.released = true
		return
	}
	s.recycle()
}

// recycle resets the stream for reuse. Its buffers stay (up to
// maxPooledBuffer), so a VM's steady traffic allocates no per-stream memory.
func (s *Stream) recycle() {
	r := s.root
	r.captured -= len(s.body)
	*s = Stream{
		root:         r,
		digest:       wire.ResponseDigest{Headers: s.digest.Headers[:0]},
		respHeaders:  s.respHeaders[:0],
		respTrailers: s.respTrailers[:0],
		body:         pooled(s.body),
		kept:         pooled(s.kept),
	}
	if len(r.free) < maxFreeStreams {
		r.free = append(r.free, s)
	}
}

// OnRequestHeaders decides whether the stream is digested, tags shadows and
// blocks their side effects.
func (s *Stream) OnRequestHeaders(endOfStream bool) Action {
	r := s.root
	if r.cfg == nil {
		return Continue
	}
	hs, err := r.host.RequestHeaders()
	if err != nil {
		return Continue
	}
	var method, path, authority, key string
	for _, h := range hs {
		switch h[0] {
		case ":method":
			method = h[1]
		case ":path":
			path = h[1]
		case ":authority":
			authority = h[1]
		case r.cfg.PairingHeader:
			if key == "" {
				key = h[1]
			}
		case r.cfg.ShadowHeader:
			s.shadow = true
		}
	}
	host, suffixed := stripShadowSuffix(authority)
	s.shadow = s.shadow || suffixed || r.cfg.AssumeShadow
	if s.shadow {
		r.metrics.shadowRequests.Add(1)
		if suffixed && r.cfg.RestoreAuthority {
			_ = r.host.ReplaceRequestHeader(":authority", host)
		}
		_ = r.host.ReplaceRequestHeader(r.cfg.ShadowHeader, "1")
	}
	urlPath, query, _ := strings.Cut(path, "?")
	// Every mirrored write is blocked, digested or not.
	blocked := s.shadow && !s.sideEffectAllowed(method, urlPath)
	switch {
	case s.shadow != (r.role != wire.RolePrimary):
		// A primary digests live traffic; secondary and candidate digest mirrors.
		r.metrics.notDigested(NotDigestedRole)
		if !s.shadow {
			r.warnUnmarked()
		}
	case key == "":
		r.metrics.notDigested(NotDigestedNoPairingKey)
	case !r.sampled(key):
		r.metrics.notDigested(NotDigestedSampledOut)
	default:
		s.start(s.keep(key), s.keep(method), s.keep(urlPath), query, s.keep(host))
		if blocked {
			s.skip = wire.SkipSideEffect
		}
	}
	if blocked {
		r.metrics.sideEffectsBlocked.Add(1)
		_ = r.host.SendLocalResponse(r.cfg.SideEffects.LocalReplyStatus, nil,
			blockedReplyHeaders, "shadowdiff_side_effect_blocked")
		return Pause
	}
	return Continue
}

// start begins the digest of a stream that will be digested.
func (s *Stream) start(key, method, urlPath, query, authority string) {
	r := s.root
	s.active = true
	s.startTime = r.now()
	s.reqHash = r.key.New()
	s.digest = wire.ResponseDigest{
		Headers:    s.digest.Headers[:0],
		PairingKey: key, Role: r.role, Workload: r.workload, Shadow: s.shadow,
		Endpoint:       wire.EndpointRef{Method: method, Path: urlPath, Authority: authority},
		Request:        wire.RequestFingerprint{Method: method, Path: urlPath},
		StartUnixNanos: s.startTime.UnixNano(),
	}
	if query != "" {
		s.digest.Request.QueryHash = r.key.SumString(query)
	}
	if route, ok := r.host.Property(routeNameProperty...); ok {
		s.digest.Endpoint.RouteName = s.keep(unsafe.String(unsafe.SliceData(route), len(route)))
	}
}

func (s *Stream) sideEffectAllowed(method, path string) bool {
	se := s.root.cfg.SideEffects
	if slices.Contains(safeMethods, method) || slices.Contains(se.AllowMethods, method) {
		return true
	}
	for _, p := range se.AllowPaths {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// pooled is b emptied for reuse, or nil when it is too large to keep.
func pooled(b []byte) []byte {
	if cap(b) > maxPooledBuffer {
		return nil
	}
	return b[:0]
}

// stripShadowSuffix removes Envoy's "-shadow" from the host part of an
// authority: "shop-shadow:8080" → "shop:8080", "[fd00::1]-shadow" →
// "[fd00::1]". The port is found as Envoy's shadowAppendedHost finds it
// (HeaderUtility::getPortStart): a ':' starts it only after the last ']',
// since an IPv6 literal's colons are inside the brackets.
func stripShadowSuffix(authority string) (string, bool) {
	host, port := authority, ""
	if i := strings.LastIndexByte(authority, ':'); i > strings.LastIndexByte(authority, ']') {
		host, port = authority[:i], authority[i:]
	}
	// Envoy never mirrors to an empty host, so a bare "-shadow" is a name.
	if h, ok := strings.CutSuffix(host, "-shadow"); ok && h != "" {
		return h + port, true
	}
	return authority, false
}

// OnRequestBody hashes the request body so the collector can prove all
// copies of a request carried the same body.
func (s *Stream) OnRequestBody(size int, endOfStream bool) Action {
	if !s.active || s.skip != 0 || size == 0 {
		return Continue
	}
	s.reqBody += uint64(size)
	limit := uint64(s.root.cfg.Body.MaxBodyBytes)
	if s.reqHash.Len() >= limit {
		s.digest.Request.BodyTruncated = true
		return Continue
	}
	b, err := s.root.host.RequestBody(size)
	if err != nil {
		return Continue
	}
	if room := limit - s.reqHash.Len(); uint64(len(b)) > room {
		b = b[:room]
		s.digest.Request.BodyTruncated = true
	}
	s.reqHash.Write(b)
	return Continue
}

// OnResponseHeaders notes status and headers; they are digested in OnDone.
func (s *Stream) OnResponseHeaders(endOfStream bool) Action {
	if !s.active || s.skip != 0 {
		return Continue
	}
	hs, err := s.root.host.ResponseHeaders()
	if err != nil {
		return Continue
	}
	s.sawResponse = true
	s.ended = endOfStream
	s.respStart = s.root.now()
	// Kept for the digest, made off the request path on the root's tick.
	for _, h := range hs {
		kh := Header{s.keep(h[0]), s.keep(h[1])}
		s.respHeaders = append(s.respHeaders, kh)
		switch kh[0] {
		case ":status":
			s.digest.Status = parseStatus(kh[1])
		case "content-type":
			s.contentType = kh[1]
		case "content-encoding":
			s.encoding = kh[1]
		}
	}
	return Continue
}

// OnResponseBody copies body chunks up to max_body_bytes, and while the
// VM's captured bodies stay within body.max_total_bytes. It never buffers
// in the proxy: chunks flow on to the client at once.
func (s *Stream) OnResponseBody(size int, endOfStream bool) Action {
	if !s.active || s.skip != 0 {
		return Continue
	}
	if endOfStream {
		s.ended = true
	}
	if size == 0 {
		return Continue
	}
	s.bodySize += uint64(size)
	if s.truncated {
		return Continue // the capture is a prefix: nothing after a gap
	}
	r := s.root
	room := r.cfg.Body.MaxBodyBytes - len(s.body)
	if room <= 0 {
		s.truncated = true
		return Continue
	}
	if r.captured+min(room, size) > r.cfg.Body.MaxTotalBytes {
		// The bodies the VM holds (streams in flight and waiting for
		// their digest) would pass the budget: this one stops here.
		s.truncated = true
		r.metrics.reason("shadowdiff.bodies_truncated", "max_total_bytes").Add(1)
		return Continue
	}
	b, err := r.host.ResponseBody(size)
	if err != nil {
		s.truncated = true
		return Continue
	}
	if len(b) > room {
		b = b[:room]
		s.truncated = true
	}
	s.body = append(s.body, b...)
	r.captured += len(b)
	return Continue
}

// OnResponseTrailers keeps the response trailers (gRPC's grpc-status and
// grpc-message, chunked trailers) for the digest; they end the response.
func (s *Stream) OnResponseTrailers() Action {
	if !s.active || s.skip != 0 {
		return Continue
	}
	s.ended = true
	ts, err := s.root.host.ResponseTrailers()
	if err != nil {
		return Continue
	}
	for _, h := range ts {
		s.respTrailers = append(s.respTrailers, Header{s.keep(h[0]), s.keep(h[1])})
	}
	return Continue
}

// OnDone runs when the stream is over. It only hands the captured response
// to the root, which digests it on its tick (Root.digestPending): in Envoy,
// proxy_on_done runs in the event-loop iteration that handed the response's
// last bytes to the connection before the socket write, so work done here
// would delay the response.
func (s *Stream) OnDone() {
	if !s.active {
		return
	}
	s.active = false
	s.root.queueDigest(s)
}

// finishDigest digests the captured response and queues the encoded
// digest for the collector.
func (s *Stream) finishDigest() {
	r := s.root
	d := &s.digest
	d.Skip = s.skip
	if s.reqHash.Len() > 0 {
		d.Request.BodyHash = s.reqHash.Sum64()
	}
	d.Request.BodySize = s.reqBody
	switch {
	case s.skip != 0:
	case !s.sawResponse || !s.ended:
		// No response, or one cut off before its end: its status and
		// partial body would read as a difference at the collector.
		d.Skip = wire.SkipNoResponse
	default:
		d.UpstreamLatencyMicros = uint64(s.respStart.Sub(s.startTime).Microseconds())
		d.Headers = digest.AppendHeaderDigests(d.Headers[:0], s.respHeaders, &r.headers)
		d.TrailersHash = r.trailersHash(s.respTrailers)
		// The body digest lives in r.bodies until the next finishDigest:
		// it is encoded below, before that.
		d.Body = r.bodies.Digest(digest.Body{ContentType: s.contentType, ContentEncoding: s.encoding,
			Data: s.body, WireSize: s.bodySize, Truncated: s.truncated})
	}
	r.sender.enqueue(wire.AppendResponseDigest(r.sender.buffer(), d))
}

func parseStatus(s string) uint32 {
	var n uint32
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + uint32(c-'0')
	}
	return n
}
