package plugin_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
	"google.golang.org/protobuf/proto"

	"github.com/shadowdiff/shadowdiff/filter/plugin"
	"github.com/shadowdiff/shadowdiff/filter/sdkhost"
	pb "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// collector records what the plugin streams; the real collector runs in e2e.
type collector struct {
	mu        sync.Mutex
	down      bool
	opened    int
	nextID    uint32
	batches   []*pb.DigestBatch
	closed    []uint32
	cancelled []uint32
	authority string // of the last stream opened
	// unacked are the batches sent and not acknowledged yet; the env
	// acknowledges them on its ticks unless holdAcks is set (a collector
	// that stopped answering).
	unacked  []sentBatch
	holdAcks bool
	// failSends is how many of the next sends the host refuses.
	failSends int
}

type sentBatch struct {
	stream   uint32
	sequence uint64
	digests  int
}

func (c *collector) Open(cluster, authority, service, method string, _ []plugin.Header) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.authority = authority
	if !strings.HasSuffix(cluster, "shadowdiff-collector") || service != "shadowdiff.v1.Collector" || method != "Ingest" {
		return 0, errors.New("unexpected stream " + cluster + " " + service + "/" + method)
	}
	if c.down {
		return 0, errors.New("unavailable")
	}
	c.opened++
	c.nextID += 4
	return c.nextID + 2, nil
}

func (c *collector) Send(id uint32, msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failSends > 0 {
		c.failSends--
		return errors.New("stream not open")
	}
	var b pb.DigestBatch
	if err := proto.Unmarshal(msg, &b); err != nil {
		return err
	}
	c.batches = append(c.batches, &b)
	c.unacked = append(c.unacked, sentBatch{id, b.GetSequence(), len(b.GetDigests())})
	return nil
}

func (c *collector) Close(id uint32) error  { c.closed = append(c.closed, id); return nil }
func (c *collector) Cancel(id uint32) error { c.cancelled = append(c.cancelled, id); return nil }

func (c *collector) digests() []*pb.ResponseDigest {
	var out []*pb.ResponseDigest
	for _, b := range c.batches {
		out = append(out, b.Digests...)
	}
	return out
}

// clock is the plugin's time in tests; with step, every reading moves it
// on by step (work that takes time).
type clock struct{ t, step time.Duration }

func (c *clock) now() time.Time {
	t := c.t
	c.t += c.step
	return time.Unix(1764150000, 0).Add(t)
}
func (c *clock) advance(d time.Duration) { c.t += d }
func newClock() *clock                   { return &clock{} }

type env struct {
	t     *testing.T
	host  proxytest.HostEmulator
	vm    *sdkhost.VM
	coll  *collector
	clock *clock
}

func start(t *testing.T, config string) *env {
	t.Helper()
	e := &env{t: t, coll: &collector{}, clock: newClock()}
	e.vm = sdkhost.NewVM(e.coll, e.clock.now)
	opt := proxytest.NewEmulatorOption().WithVMContext(e.vm).WithPluginConfiguration([]byte(config)).
		WithProperty([]string{"xds", "route_name"}, []byte("users-route")).
		WithProperty([]string{"plugin_name"}, []byte("demo.shadowdiff"))
	host, reset := proxytest.NewHostEmulator(opt)
	t.Cleanup(reset)
	e.host = host
	if st := host.StartPlugin(); st != types.OnPluginStartStatusOK {
		t.Fatalf("plugin did not start: %v %v", host.GetCriticalLogs(), host.GetErrorLogs())
	}
	return e
}

type exchange struct {
	reqHeaders  [][2]string
	reqBody     []byte
	respHeaders [][2]string
	respBody    [][]byte
}

// run drives one stream and returns the request headers the upstream would see.
func (e *env) run(x exchange) (uint32, types.Action) {
	id := e.host.InitializeHttpContext()
	act := e.host.CallOnRequestHeaders(id, x.reqHeaders, x.reqBody == nil)
	if act != types.ActionContinue {
		e.host.CompleteHttpContext(id)
		return id, act
	}
	if x.reqBody != nil {
		e.host.CallOnRequestBody(id, x.reqBody, true)
	}
	e.host.CallOnResponseHeaders(id, x.respHeaders, len(x.respBody) == 0)
	for i, chunk := range x.respBody {
		if a := e.host.CallOnResponseBody(id, chunk, i == len(x.respBody)-1); a != types.ActionContinue {
			e.t.Fatalf("response body action %v: the filter must never hold the primary response", a)
		}
	}
	e.host.CompleteHttpContext(id)
	return id, act
}

// digestQueued ticks, without time passing, until the root has digested
// every response the streams handed it (a bounded number per tick); the
// collector acknowledges what was sent after each tick.
func (e *env) digestQueued() {
	for range 1024/64 + 1 {
		e.host.Tick()
		e.ack()
	}
}

// ack has the collector acknowledge every batch sent so far, as it would
// between two ticks, unless it holds its acks.
func (e *env) ack() {
	for !e.coll.holdAcks && len(e.coll.unacked) > 0 {
		b := e.coll.unacked[0]
		e.coll.unacked = e.coll.unacked[1:]
		msg, err := proto.Marshal(&pb.DigestAck{Sequence: b.sequence, Accepted: uint32(b.digests)})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, r := range e.vm.Roots {
			r.OnStreamMessage(b.stream, msg)
		}
	}
}

// flush digests what is queued, then ticks past the flush interval.
func (e *env) flush() {
	e.digestQueued()
	e.clock.advance(2 * time.Second)
	e.host.Tick()
	e.ack()
}

func (e *env) counter(name string) uint64 {
	v, err := e.host.GetCounterMetric(name)
	if err != nil {
		return 0
	}
	return v
}

func get(path, id string, extra ...[2]string) [][2]string {
	hs := [][2]string{{":method", "GET"}, {":path", path}, {":authority", "shop:8080"}, {"x-request-id", id}}
	return append(hs, extra...)
}

func jsonResponse() [][2]string {
	return [][2]string{{":status", "200"}, {"content-type", "application/json"}, {"date", "now"}, {"cache-control", "no-store"}}
}

func TestPrimaryDigestsResponseWithoutTouchingIt(t *testing.T) {
	e := start(t, `{"role":"primary","workload":{"name":"shop","namespace":"demo","version":"v1"},"raw_fields":["body.user.tier"]}`)
	id, act := e.run(exchange{
		reqHeaders:  get("/users/7?verbose=1", "req-1"),
		respHeaders: jsonResponse(),
		respBody:    [][]byte{[]byte(`{"user":{"id":7,`), []byte(`"tier":"gold"}}`)},
	})
	if act != types.ActionContinue {
		t.Fatalf("request headers action %v", act)
	}
	if got := e.host.GetCurrentRequestHeaders(id); len(got) != 4 {
		t.Errorf("primary request headers changed: %v", got)
	}
	if len(e.coll.batches) != 0 {
		t.Fatal("sent before the flush interval")
	}
	e.flush()
	ds := e.coll.digests()
	if len(ds) != 1 {
		t.Fatalf("want 1 digest, got %d", len(ds))
	}
	d := ds[0]
	if d.GetPairingKey() != "req-1" || d.GetRole() != pb.Role_ROLE_PRIMARY || d.GetShadow() || d.GetStatus() != 200 ||
		d.GetEndpoint().GetRouteName() != "users-route" || d.GetEndpoint().GetPath() != "/users/7" ||
		d.GetRequest().GetQueryHash() == 0 || d.GetWorkload().GetName() != "shop" || d.GetWorkload().GetPluginName() != "demo.shadowdiff" {
		t.Errorf("digest: %v", d)
	}
	fields := map[string]*pb.FieldEntry{}
	for _, f := range d.GetBody().GetFields() {
		fields[f.GetPath()] = f
	}
	if fields["user.tier"].GetRawValue() != "gold" || fields["user.id"] == nil || fields["user.id"].RawValue != nil {
		t.Errorf("fields: %v", d.GetBody().GetFields())
	}
	var names []string
	for _, h := range d.GetHeaders() {
		names = append(names, h.GetName())
	}
	if strings.Join(names, ",") != "cache-control,content-type" {
		t.Errorf("headers digested: %v (date must be excluded)", names)
	}
	if e.counter("shadowdiff.digests_sent") != 1 {
		t.Errorf("digests_sent = %d", e.counter("shadowdiff.digests_sent"))
	}
}

func TestCandidateTagsShadowAndRestoresAuthority(t *testing.T) {
	e := start(t, `{"role":"candidate"}`)
	id, _ := e.run(exchange{
		reqHeaders:  [][2]string{{":method", "GET"}, {":path", "/users/7"}, {":authority", "shop-shadow:8080"}, {"x-request-id", "req-2"}},
		respHeaders: jsonResponse(), respBody: [][]byte{[]byte(`{}`)},
	})
	got := map[string]string{}
	for _, h := range e.host.GetCurrentRequestHeaders(id) {
		got[h[0]] = h[1]
	}
	if got[":authority"] != "shop:8080" || got["x-shadowdiff-shadow"] != "1" {
		t.Errorf("upstream request headers: %v", got)
	}
	e.flush()
	if ds := e.coll.digests(); len(ds) != 1 || !ds[0].GetShadow() || ds[0].GetRole() != pb.Role_ROLE_CANDIDATE || ds[0].GetEndpoint().GetAuthority() != "shop:8080" {
		t.Errorf("digests: %v", ds)
	}
	if e.counter("shadowdiff.shadow_requests") != 1 {
		t.Error("shadow_requests not counted")
	}
}

func TestShadowSideEffectsAreBlocked(t *testing.T) {
	e := start(t, `{"role":"secondary","side_effects":{"allow_paths":["/search"]}}`)
	post := func(path, id string) types.Action {
		_, act := e.run(exchange{reqHeaders: [][2]string{{":method", "POST"}, {":path", path}, {":authority", "shop-shadow"}, {"x-request-id", id}},
			reqBody: []byte(`{"q":1}`), respHeaders: jsonResponse(), respBody: [][]byte{[]byte(`{}`)}})
		return act
	}
	if act := post("/orders", "req-3"); act != types.ActionPause {
		t.Fatalf("blocked POST action %v", act)
	}
	if act := post("/search", "req-4"); act != types.ActionContinue {
		t.Fatalf("allowed path action %v", act)
	}
	// Without a pairing key the mirror is not digested, but still blocked.
	if _, act := e.run(exchange{reqHeaders: [][2]string{{":method", "PUT"}, {":path", "/users/1"}, {":authority", "shop-shadow"}},
		respHeaders: jsonResponse()}); act != types.ActionPause {
		t.Fatalf("mirrored PUT without x-request-id reached the shadow: %v", act)
	}
	e.flush()
	ds := e.coll.digests()
	if len(ds) != 2 || ds[0].GetSkip() != pb.SkipReason_SKIP_REASON_SIDE_EFFECT || ds[1].GetSkip() != pb.SkipReason_SKIP_REASON_UNSPECIFIED {
		t.Fatalf("digests: %v", ds)
	}
	if ds[1].GetRequest().GetBodyHash() == 0 || ds[1].GetRequest().GetBodySize() != 7 {
		t.Errorf("request body fingerprint: %v", ds[1].GetRequest())
	}
	if e.counter("shadowdiff.side_effects_blocked") != 2 {
		t.Errorf("side_effects_blocked = %d, want 2", e.counter("shadowdiff.side_effects_blocked"))
	}
}

func TestWhatIsNotDigested(t *testing.T) {
	e := start(t, `{"role":"candidate"}`)
	e.run(exchange{reqHeaders: get("/users/1", "live-traffic"), respHeaders: jsonResponse()})
	e.run(exchange{reqHeaders: [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "shop-shadow"}}, respHeaders: jsonResponse()})
	e.flush()
	if len(e.coll.digests()) != 0 {
		t.Errorf("digested: %v", e.coll.digests())
	}
	if e.counter("shadowdiff.not_digested.wrong_direction") != 1 || e.counter("shadowdiff.not_digested.no_pairing_key") != 1 {
		t.Error("not_digested reasons not counted")
	}
	// Live traffic at a shadow, or a mirror Istio 1.28+ sent unmarked: said once.
	e.run(exchange{reqHeaders: get("/users/2", "live-traffic-2"), respHeaders: jsonResponse()})
	n := 0
	for _, w := range e.host.GetWarnLogs() {
		if strings.Contains(w, "assume_shadow") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("warnings %q: want one naming assume_shadow", e.host.GetWarnLogs())
	}
}

// Istio 1.28+ mirrors without the "-shadow" suffix: with assume_shadow a
// shadow workload treats every request as a mirror, digested and guarded.
func TestAssumeShadowTreatsUnmarkedRequestsAsShadows(t *testing.T) {
	e := start(t, `{"role":"candidate","assume_shadow":true}`)
	id, act := e.run(exchange{reqHeaders: get("/users/7", "req-7"), respHeaders: jsonResponse(), respBody: [][]byte{[]byte(`{}`)}})
	if act != types.ActionContinue {
		t.Fatalf("GET action %v", act)
	}
	got := map[string]string{}
	for _, h := range e.host.GetCurrentRequestHeaders(id) {
		got[h[0]] = h[1]
	}
	if got["x-shadowdiff-shadow"] != "1" {
		t.Errorf("upstream request headers %v: the shadow header must be set", got)
	}
	if _, act := e.run(exchange{reqHeaders: [][2]string{{":method", "POST"}, {":path", "/orders"}, {":authority", "shop"}, {"x-request-id", "req-8"}},
		respHeaders: jsonResponse()}); act != types.ActionPause {
		t.Errorf("unmarked POST at an assume_shadow candidate: action %v, want it blocked", act)
	}
	e.flush()
	if ds := e.coll.digests(); len(ds) != 2 || !ds[0].GetShadow() || ds[1].GetSkip() != pb.SkipReason_SKIP_REASON_SIDE_EFFECT {
		t.Errorf("digests: %v", ds)
	}
	if n := e.counter("shadowdiff.not_digested.wrong_direction"); n != 0 {
		t.Errorf("wrong_direction = %d", n)
	}
}

func TestBadConfigRefusesToStart(t *testing.T) {
	vm := sdkhost.NewVM(&collector{}, nil)
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(`{"role":"primary","batch":{"max_digests":0}}`))
	host, reset := proxytest.NewHostEmulator(opt)
	defer reset()
	if st := host.StartPlugin(); st != types.OnPluginStartStatusFailed {
		t.Fatal("plugin started with a bad config")
	}
	if logs := host.GetCriticalLogs(); len(logs) == 0 || !strings.Contains(logs[0], "batch.max_digests") {
		t.Errorf("critical log must name the field: %v", logs)
	}
}

func TestCollectorDownDropsWithBoundedQueue(t *testing.T) {
	e := start(t, `{"role":"primary","batch":{"max_digests":2},"queue":{"max_digests":5}}`)
	e.coll.down = true
	for i := range 20 {
		e.run(exchange{reqHeaders: get("/users/1", "down-"+string(rune('a'+i))), respHeaders: jsonResponse(), respBody: [][]byte{[]byte(`{"a":1}`)}})
	}
	e.digestQueued()
	if dropped := e.counter("shadowdiff.digests_dropped.queue_full"); dropped != 15 {
		t.Errorf("queue_full drops = %d, want 15 (queue holds 5)", dropped)
	}
	// The collector comes back: after the backoff the queue drains.
	e.coll.down = false
	for range 10 {
		e.flush()
	}
	if got := len(e.coll.digests()); got != 5 {
		t.Errorf("delivered %d digests after recovery, want the 5 queued", got)
	}
	if b := e.coll.batches[0]; b.GetDropped() != 15 {
		t.Errorf("first batch reports %d dropped, want 15", b.GetDropped())
	}
}

func TestStreamLossAndAcks(t *testing.T) {
	e := start(t, `{"role":"primary","batch":{"max_digests":1}}`)
	e.coll.holdAcks = true
	e.run(exchange{reqHeaders: get("/a", "r1"), respHeaders: jsonResponse()})
	e.run(exchange{reqHeaders: get("/a", "r2"), respHeaders: jsonResponse()})
	e.digestQueued()
	if len(e.coll.batches) != 1 {
		t.Fatalf("a new stream carries one batch until the collector acknowledges it: %d sent", len(e.coll.batches))
	}
	var root *plugin.Root
	for _, r := range e.vm.Roots {
		root = r
	}
	id := e.coll.nextID + 2
	ack, _ := proto.Marshal(&pb.DigestAck{Sequence: 1, Accepted: 0, Rejections: []*pb.Rejection{{Index: 0, Reason: "endpoint.path: must start with /"}}})
	root.OnStreamMessage(id, ack)
	if e.counter("shadowdiff.digests_dropped.rejected") != 1 {
		t.Error("rejection not counted")
	}
	if len(e.coll.batches) != 2 {
		t.Fatalf("full batches go out at once on a confirmed stream: %d sent", len(e.coll.batches))
	}
	// INTERNAL: Envoy's status for a stream reset after the collector
	// answered (it crashed): the batch may be stored, so it is dropped.
	root.OnStreamClose(id, 13, "stream reset")
	if e.counter("shadowdiff.digests_dropped.stream_closed") != 1 || e.counter("shadowdiff.stream_reconnects") != 1 {
		t.Errorf("unacknowledged batch not counted on stream loss: %d", e.counter("shadowdiff.digests_dropped.stream_closed"))
	}
	e.run(exchange{reqHeaders: get("/a", "r3"), respHeaders: jsonResponse()})
	for range 3 {
		e.flush()
	}
	if e.coll.opened != 2 || len(e.coll.digests()) != 3 {
		t.Errorf("reconnect: opened %d streams, %d digests", e.coll.opened, len(e.coll.digests()))
	}
}

func TestLargeAndCompressedBodies(t *testing.T) {
	e := start(t, `{"role":"primary","body":{"max_body_bytes":1024}}`)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(`{"schema_version":2}`))
	w.Close()
	e.run(exchange{reqHeaders: get("/export", "g1"),
		respHeaders: [][2]string{{":status", "200"}, {"content-type", "application/json"}, {"content-encoding", "gzip"}},
		respBody:    [][]byte{gz.Bytes()}})
	big := []byte(`{"rows":[` + strings.Repeat(`"xxxxxxxxxx",`, 200) + `"end"]}`)
	e.run(exchange{reqHeaders: get("/report", "g2"), respHeaders: jsonResponse(), respBody: [][]byte{big[:1000], big[1000:]}})
	e.flush()
	ds := e.coll.digests()
	if len(ds) != 2 {
		t.Fatalf("digests: %d", len(ds))
	}
	if b := ds[0].GetBody(); b.GetKind() != pb.BodyKind_BODY_KIND_JSON || b.GetContentEncoding() != "gzip" || len(b.GetFields()) != 2 {
		t.Errorf("gzip body: %v", b)
	}
	if b := ds[1].GetBody(); !b.GetTruncated() || b.GetWireSize() != uint64(len(big)) || b.GetKind() != pb.BodyKind_BODY_KIND_INVALID_JSON {
		t.Errorf("large body: %v", b)
	}
}

// Sampling hashes the pairing key: every role digests the same requests,
// so sampled digests still pair up, and blocked side effects stay blocked.
// (proxytest runs one emulator at a time: each role in its own subtest.)
func TestSamplingPicksTheSameRequestsInEveryRole(t *testing.T) {
	const n = 1000
	sampled := map[string][]string{}
	for _, role := range []string{"primary", "candidate"} {
		t.Run(role, func(t *testing.T) {
			e := start(t, `{"role":"`+role+`","sample_percent":30}`)
			authority := "shop"
			if role != "primary" {
				authority = "shop-shadow"
			}
			for i := range n {
				e.run(exchange{reqHeaders: [][2]string{{":method", "GET"}, {":path", "/a"}, {":authority", authority},
					{"x-request-id", fmt.Sprintf("req-%d", i)}}, respHeaders: jsonResponse()})
			}
			e.flush()
			for _, d := range e.coll.digests() {
				sampled[role] = append(sampled[role], d.GetPairingKey())
			}
			if got, want := e.counter("shadowdiff.not_digested.sampled_out"), uint64(n-len(sampled[role])); got != want {
				t.Errorf("sampled_out = %d, want %d", got, want)
			}
			if role == "candidate" {
				for i := range 50 {
					_, act := e.run(exchange{reqHeaders: [][2]string{{":method", "DELETE"}, {":path", "/a/1"}, {":authority", authority},
						{"x-request-id", fmt.Sprintf("del-%d", i)}}, respHeaders: jsonResponse()})
					if act != types.ActionPause {
						t.Fatalf("mirrored DELETE %d reached the shadow", i)
					}
				}
			}
		})
	}
	p, c := sampled["primary"], sampled["candidate"]
	if strings.Join(p, ",") != strings.Join(c, ",") {
		t.Fatalf("roles sampled different requests: %d vs %d", len(p), len(c))
	}
	if len(p) < 240 || len(p) > 360 {
		t.Errorf("sampled %d of %d at 30%%", len(p), n)
	}
}

// A stream cut off after its response headers (client gone, upstream
// reset, timeout) never saw its end of stream: its status and partial body
// would read as differences at the collector, so it is reported as
// SKIP_REASON_NO_RESPONSE, as digest.proto defines it. A response that ends
// with an empty last chunk is complete.
func TestResponseCutOffMidBodyIsSkipped(t *testing.T) {
	e := start(t, `{"role":"primary"}`)
	cut := e.host.InitializeHttpContext()
	e.host.CallOnRequestHeaders(cut, get("/users/1", "cut-1"), true)
	e.host.CallOnResponseHeaders(cut, jsonResponse(), false)
	e.host.CallOnResponseBody(cut, []byte(`{"user":{"id":1,"na`), false) // a reset follows
	e.host.CompleteHttpContext(cut)

	whole := e.host.InitializeHttpContext()
	e.host.CallOnRequestHeaders(whole, get("/users/1", "whole-1"), true)
	e.host.CallOnResponseHeaders(whole, jsonResponse(), false)
	e.host.CallOnResponseBody(whole, []byte(`{"user":{"id":1}}`), false)
	e.host.CallOnResponseBody(whole, nil, true) // chunked: the end is an empty chunk
	e.host.CompleteHttpContext(whole)

	e.flush()
	ds := map[string]*pb.ResponseDigest{}
	for _, d := range e.coll.digests() {
		ds[d.GetPairingKey()] = d
	}
	if d := ds["cut-1"]; d == nil || d.GetSkip() != pb.SkipReason_SKIP_REASON_NO_RESPONSE {
		t.Errorf("response cut off mid-body: %v, want skip SKIP_REASON_NO_RESPONSE", d)
	}
	if d := ds["whole-1"]; d == nil || d.GetSkip() != pb.SkipReason_SKIP_REASON_UNSPECIFIED || d.GetBody().GetKind() != pb.BodyKind_BODY_KIND_JSON {
		t.Errorf("complete response: %v, want a JSON body digest without skip", d)
	}
}

// Response trailers (gRPC's grpc-status and grpc-message, chunked
// trailers) are digested into trailers_hash, independent of their order,
// and they end the response: a body whose last chunk had no end_of_stream
// but was followed by trailers is complete.
func TestResponseTrailersAreHashedAndEndTheResponse(t *testing.T) {
	e := start(t, `{"role":"primary"}`)
	grpcResponse := [][2]string{{":status", "200"}, {"content-type", "application/grpc"}}
	call := func(key string, trailers [][2]string) {
		id := e.host.InitializeHttpContext()
		e.host.CallOnRequestHeaders(id, get("/shop.Users/Get", key), true)
		e.host.CallOnResponseHeaders(id, grpcResponse, false)
		e.host.CallOnResponseBody(id, []byte("\x00\x00\x00\x00\x02\x08\x01"), false)
		if trailers != nil {
			e.host.CallOnResponseTrailers(id, trailers)
		}
		e.host.CompleteHttpContext(id)
	}
	call("ok", [][2]string{{"grpc-status", "0"}, {"grpc-message", ""}})
	call("ok-reordered", [][2]string{{"grpc-message", ""}, {"grpc-status", "0"}})
	call("internal", [][2]string{{"grpc-status", "13"}, {"grpc-message", "boom"}})
	call("cut", nil)
	e.flush()
	ds := map[string]*pb.ResponseDigest{}
	for _, d := range e.coll.digests() {
		ds[d.GetPairingKey()] = d
	}
	ok, reordered, internal, cut := ds["ok"], ds["ok-reordered"], ds["internal"], ds["cut"]
	if ok == nil || reordered == nil || internal == nil || cut == nil {
		t.Fatalf("digests: %v", ds)
	}
	if ok.GetSkip() != 0 || internal.GetSkip() != 0 {
		t.Errorf("responses ended by trailers were skipped: %v %v", ok.GetSkip(), internal.GetSkip())
	}
	if ok.GetTrailersHash() == 0 || ok.GetTrailersHash() != reordered.GetTrailersHash() {
		t.Errorf("trailers hash %x, reordered %x: want equal and not 0", ok.GetTrailersHash(), reordered.GetTrailersHash())
	}
	if internal.GetTrailersHash() == ok.GetTrailersHash() {
		t.Error("grpc-status 13 and grpc-status 0 hash alike")
	}
	if cut.GetSkip() != pb.SkipReason_SKIP_REASON_NO_RESPONSE || cut.GetTrailersHash() != 0 {
		t.Errorf("a gRPC response without trailers or end of stream: skip %v trailers %x", cut.GetSkip(), cut.GetTrailersHash())
	}
}

// A stream the plugin gives up on (no ack within collector.timeout) may
// still be open at a hung collector: it is reset (proxy_grpc_cancel), not
// half-closed (proxy_grpc_close keeps it open in Envoy until the collector
// ends it). A stream the collector closed is closed in turn.
func TestAbandonedStreamIsCancelled(t *testing.T) {
	e := start(t, `{"role":"primary","batch":{"max_digests":1},"collector":{"timeout":"200ms"},
		"reconnect":{"initial_backoff":"10ms","max_backoff":"20ms"}}`)
	e.coll.holdAcks = true
	e.run(exchange{reqHeaders: get("/a", "t1"), respHeaders: jsonResponse()})
	e.digestQueued()
	first := e.coll.nextID + 2
	e.flush() // no ack for 2 s: past collector.timeout
	if len(e.coll.cancelled) != 1 || e.coll.cancelled[0] != first || len(e.coll.closed) != 0 {
		t.Fatalf("after an ack timeout: cancelled %v, closed %v; want stream %d cancelled", e.coll.cancelled, e.coll.closed, first)
	}
	if e.counter("shadowdiff.digests_dropped.ack_timeout") != 1 {
		t.Errorf("ack_timeout drops = %d, want 1", e.counter("shadowdiff.digests_dropped.ack_timeout"))
	}

	e.clock.advance(time.Second)
	e.run(exchange{reqHeaders: get("/a", "t2"), respHeaders: jsonResponse()})
	e.digestQueued()
	second := e.coll.nextID + 2
	if second == first || e.coll.opened != 2 {
		t.Fatalf("no reconnect: opened %d", e.coll.opened)
	}
	for _, r := range e.vm.Roots {
		r.OnStreamClose(second, 14, "connection reset")
	}
	if len(e.coll.closed) != 1 || e.coll.closed[0] != second || len(e.coll.cancelled) != 1 {
		t.Errorf("after the collector closed the stream: cancelled %v, closed %v; want stream %d closed", e.coll.cancelled, e.coll.closed, second)
	}
}

// A max_backoff too large for the sender used to be accepted, and the
// collector being unreachable then trapped the VM: it is refused at start.
func TestHugeMaxBackoffRefusesToStart(t *testing.T) {
	vm := sdkhost.NewVM(&collector{down: true}, nil)
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(`{"role":"primary","reconnect":{"max_backoff":"2500000h"}}`))
	host, reset := proxytest.NewHostEmulator(opt)
	defer reset()
	if st := host.StartPlugin(); st != types.OnPluginStartStatusFailed {
		t.Fatal("plugin started with max_backoff 2500000h")
	}
	if logs := host.GetCriticalLogs(); len(logs) == 0 || !strings.Contains(logs[0], "reconnect.max_backoff") {
		t.Errorf("critical log must name the field: %v", logs)
	}
}

// When the proxy tears the plugin instance down (on_done on the root
// context, at every plugin or listener update) the queued digests and the
// unacknowledged batches can no longer be delivered: they are counted as
// dropped (shutdown), not lost silently, and the stream is reset.
func TestShutdownCountsQueuedAndInflightDigests(t *testing.T) {
	e := start(t, `{"role":"primary","batch":{"max_digests":2}}`)
	e.run(exchange{reqHeaders: get("/a", "first"), respHeaders: jsonResponse()})
	e.flush() // sent and acknowledged: the stream is confirmed
	e.coll.holdAcks = true
	for i := range 5 {
		e.run(exchange{reqHeaders: get("/a", fmt.Sprintf("s%d", i)), respHeaders: jsonResponse()})
	}
	e.digestQueued()
	if len(e.coll.batches) != 3 {
		t.Fatalf("%d batches sent, want 3 (the first acknowledged, 4 digests in flight, 1 queued)", len(e.coll.batches))
	}
	id := e.coll.nextID + 2
	if !e.host.FinishVM() {
		t.Error("on_done returned false")
	}
	if got := e.counter("shadowdiff.digests_dropped.shutdown"); got != 5 {
		t.Errorf("digests_dropped.shutdown = %d, want 5 (4 unacknowledged, 1 queued)", got)
	}
	if got := e.counter("shadowdiff.digests_dropped"); got != 5 {
		t.Errorf("digests_dropped = %d, want 5", got)
	}
	if len(e.coll.cancelled) != 1 || e.coll.cancelled[0] != id {
		t.Errorf("stream not reset at shutdown: cancelled %v", e.coll.cancelled)
	}
	// A stream that ends after its root is counted too, and nothing is sent.
	e.run(exchange{reqHeaders: get("/a", "late"), respHeaders: jsonResponse()})
	e.flush()
	if got := e.counter("shadowdiff.digests_dropped.shutdown"); got != 6 || len(e.coll.batches) != 3 || e.coll.opened != 1 {
		t.Errorf("after shutdown: dropped.shutdown %d, %d batches, %d streams opened", got, len(e.coll.batches), e.coll.opened)
	}
}

// The stream's :authority travels in the GrpcService (abi/serde.go), never as
// initial metadata, which Envoy appends to the cluster name's.
func TestStreamCarriesTheCollectorAuthority(t *testing.T) {
	e := start(t, `{"role":"primary","collector":{"cluster":"outbound|9090||shadowdiff-collector"}}`)
	e.run(exchange{reqHeaders: get("/users/1", "req-a"), respHeaders: jsonResponse(), respBody: [][]byte{[]byte(`{}`)}})
	e.flush()
	e.coll.mu.Lock()
	defer e.coll.mu.Unlock()
	if e.coll.opened == 0 || e.coll.authority != "shadowdiff-collector:9090" {
		t.Errorf("streams opened %d, authority %q: want shadowdiff-collector:9090", e.coll.opened, e.coll.authority)
	}
}
