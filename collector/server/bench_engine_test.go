package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/bits"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"

	"github.com/shadowdiff/shadowdiff/collector/engine"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// keyDigits is the width of the request number in the pairing keys of the
// pre-encoded batches, so the benchmark can renumber them in place.
const keyDigits = 12

// tripleDigest builds the digest of role for request slot k (of a batch)
// with 50 body fields and 8 headers: the timestamp, request id, date and
// trace headers differ between every response (noise) and the candidate
// changes the price of every tenth request.
func tripleDigest(k int, role shadowdiffv1.Role, start time.Time) *shadowdiffv1.ResponseDigest {
	path := "/api/orders/" + strconv.Itoa(k%100)
	d := &shadowdiffv1.ResponseDigest{
		PairingKey: fmt.Sprintf("k%0*d-%03d", keyDigits, 0, k), Role: role,
		Workload: &shadowdiffv1.Workload{Name: "shop", Namespace: "demo", Version: "v1", Instance: "pod-1"},
		Endpoint: &shadowdiffv1.EndpointRef{Method: "GET", Path: path},
		Request:  &shadowdiffv1.RequestFingerprint{Method: "GET", Path: path, QueryHash: uint64(k)},
		Status:   200, Shadow: role != shadowdiffv1.Role_ROLE_PRIMARY, StartUnixNanos: start.UnixNano(),
		Body: &shadowdiffv1.BodyDigest{ContentType: "application/json", Kind: shadowdiffv1.BodyKind_BODY_KIND_JSON,
			WireSize: 2048, DecodedSize: 2048, Hash: uint64(k)<<8 | uint64(role)},
	}
	noisy := uint64(k)<<8 | uint64(role)
	for i, name := range []string{"cache-control", "content-length", "content-type", "date", "etag", "server", "vary", "x-trace"} {
		v := uint64(i + 1)
		if name == "date" || name == "x-trace" {
			v = noisy
		}
		d.Headers = append(d.Headers, &shadowdiffv1.HeaderDigest{Name: name, ValueHash: v, Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_TEXT})
	}
	for f := range 50 {
		e := &shadowdiffv1.FieldEntry{Path: fmt.Sprintf("order.f%02d", f), Type: shadowdiffv1.JsonType_JSON_TYPE_STRING,
			Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_TEXT, ValueHash: uint64(f) * 0x9e3779b97f4a7c15, UnorderedHash: uint64(f), Occurrences: 1}
		switch {
		case f == 0:
			e.Path, e.Shape, e.ValueHash = "meta.generated_at", shadowdiffv1.ValueShape_VALUE_SHAPE_TIMESTAMP, noisy
		case f == 1:
			e.Path, e.Shape, e.ValueHash = "meta.request_id", shadowdiffv1.ValueShape_VALUE_SHAPE_UUID, noisy+1
		case f == 2 && role == shadowdiffv1.Role_ROLE_CANDIDATE && k%10 == 0:
			e.ValueHash++ // the regression
		}
		d.Body.Fields = append(d.Body.Fields, e)
	}
	return d
}

// encodedBatches are the wire forms of one batch per role; keyAt holds the
// offsets of the request numbers in the pairing keys. Each batch starts
// with its sequence as a 5-byte varint (seqLen bytes with the tag), so it
// can be renumbered in place.
type encodedBatches struct {
	wire  [3][]byte
	keyAt [3][]int
	// randomKeys scatters every pairing key over the key space, as
	// x-request-id UUIDs are, instead of numbering them in order.
	randomKeys bool
}

const seqLen = 6

func newEncodedBatches(tb testing.TB, perBatch int) *encodedBatches {
	var eb encodedBatches
	start := time.Now()
	for r, role := range []shadowdiffv1.Role{shadowdiffv1.Role_ROLE_PRIMARY, shadowdiffv1.Role_ROLE_SECONDARY, shadowdiffv1.Role_ROLE_CANDIDATE} {
		batch := &shadowdiffv1.DigestBatch{}
		for k := range perBatch {
			batch.Digests = append(batch.Digests, tripleDigest(k, role, start))
		}
		wire, err := batch.MarshalVT()
		if err != nil {
			tb.Fatal(err)
		}
		wire = append(make([]byte, seqLen), wire...)
		for k := range perBatch {
			at := bytes.Index(wire, []byte(fmt.Sprintf("k%0*d-%03d", keyDigits, 0, k)))
			if at < 0 {
				tb.Fatalf("pairing key %d not found in the encoded batch", k)
			}
			eb.keyAt[r] = append(eb.keyAt[r], at+1)
		}
		eb.wire[r] = wire
	}
	return &eb
}

// number writes the sequence and the request number n into a copy of a
// role's batch.
func (eb *encodedBatches) number(msg []byte, role int, seq uint64, n int) {
	msg[0] = 0x08 // field 1 (sequence), varint
	for i := 1; i < seqLen; i++ {
		msg[i] = byte(seq>>(7*(i-1)))&0x7f | 0x80
	}
	msg[seqLen-1] &= 0x7f
	for k, at := range eb.keyAt[role] {
		v := n
		if eb.randomKeys {
			// Each key of the batch on its own: batches of keys next
			// to each other would touch a page or two of an index each.
			v = scatter(n*len(eb.keyAt[role]) + k)
		}
		for i := keyDigits - 1; i >= 0; i, v = i-1, v/10 {
			msg[at+i] = byte('0' + v%10)
		}
	}
}

// scatter maps [0, 10^keyDigits) onto itself one to one, in no order:
// multiplying by a number prime to 10 is a bijection modulo 10^12.
func scatter(n int) int {
	const space, mult = 1_000_000_000_000, 0x5DEECE66D
	hi, lo := bits.Mul64(uint64(n), mult)
	_, rem := bits.Div64(hi%space, lo, space)
	return int(rem)
}

// preEncoded is a message the client sends as is.
type preEncoded []byte

// rawCodec sends preEncoded messages without marshalling them and decodes
// acks with vtprotobuf: the client's CPU is the transport only.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(preEncoded))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return v.(*shadowdiffv1.DigestAck).UnmarshalVT(data.Materialize())
}

func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngestEngine is the collector end to end: 50-field digests over
// gRPC on loopback into the real engine, acknowledged once durable in
// bbolt. Each iteration sends one 64-digest batch per role (primary,
// secondary, candidate) for 64 new requests on one of `streams` streams.
// digests/s is wall-clock throughput; digests/cpu-s divides by the CPU time
// of the whole process (server, engine, store, GC and the client's gRPC
// transport). Run with -cpu 1 for the per-core figure.
//
// With pending=N, N requests whose primary came but no other role wait
// through the run (a window of an hour): in production the pairing window
// holds rate x window requests, which the GC marks on every cycle.
//
// Each stream sends a request's three batches one after the other, each
// once the one before was acknowledged, so every primary and secondary is
// stored as pending before its candidate comes: the worst case. With
// roles=apart each of the streams is three, one per role, sending the
// iteration's three batches at once, as the three sidecars of a mirrored
// request send theirs: a request's roles then often share a transaction
// and its pending digests need not be written.
//
// With client=process the batches come from this test binary run again as
// a load generator (TestIngestLoadGenerator): digests/cpu-s then counts
// the collector's CPU alone, as where the sidecars run on other nodes.
func BenchmarkIngestEngine(b *testing.B) {
	cases := []struct {
		streams, pending       int
		randomKeys, rolesApart bool
		clientProcess          bool
	}{
		{streams: 1}, {streams: 16}, {streams: 16, pending: 50_000}, {streams: 16, randomKeys: true},
		{streams: 16, rolesApart: true}, {streams: 16, clientProcess: true}, {streams: 16, rolesApart: true, clientProcess: true},
	}
	for _, c := range cases {
		streams := c.streams
		name := fmt.Sprintf("streams=%d", streams)
		if c.pending > 0 {
			name += fmt.Sprintf(",pending=%dk", c.pending/1000)
		}
		if c.randomKeys {
			name += ",keys=random"
		}
		send := sendBatches
		if c.rolesApart {
			name += ",roles=apart"
			send = sendApart
		}
		if c.clientProcess {
			name += ",client=process"
		}
		b.Run(name, func(b *testing.B) {
			const perBatch = 64
			eng, err := engine.Open(b.TempDir(), engine.Options{PairWindow: time.Hour, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer eng.Close()
			r := start(b, eng, eng.QueryServer(), Options{})
			eb := newEncodedBatches(b, perBatch)
			eb.randomKeys = c.randomKeys
			if c.pending > 0 {
				// Numbered after any request the run sends (and, times
				// the batch size, within the keys' 12 digits).
				var filled atomic.Int64
				sendRoles(b, r.conn, eb, &filled, c.pending/perBatch, perBatch, 1, 1e9)
			}
			var gen *loadProcess
			if c.clientProcess {
				gen = startLoad(b, load{Addr: r.conn.Target(), N: b.N, Streams: streams, PerBatch: perBatch, RolesApart: c.rolesApart})
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			if gen != nil {
				gen.run(b)
			} else {
				for range streams {
					wg.Go(func() { send(b, r.conn, eb, &next, b.N, perBatch) })
				}
				wg.Wait()
			}
			cpu := cpuTime(b) - cpu0
			b.StopTimer()
			digests := float64(3 * perBatch * b.N)
			b.ReportMetric(digests/b.Elapsed().Seconds(), "digests/s")
			b.ReportMetric(digests/cpu.Seconds(), "digests/cpu-s")
		})
	}
}

// sendBatches opens a stream and sends iterations until n are taken.
func sendBatches(b testing.TB, conn *grpc.ClientConn, eb *encodedBatches, next *atomic.Int64, n, perBatch int) {
	sendRoles(b, conn, eb, next, n, perBatch, 3, 0)
}

// sendApart is sendBatches with a stream per role: each iteration's three
// batches are sent at once, each on its role's stream.
func sendApart(b testing.TB, conn *grpc.ClientConn, eb *encodedBatches, next *atomic.Int64, n, perBatch int) {
	var streams [3]grpc.ClientStream
	var msgs [3][]byte
	for role := range streams {
		s := openIngest(b, conn)
		if s == nil {
			return
		}
		defer s.CloseSend()
		streams[role], msgs[role] = s, bytes.Clone(eb.wire[role])
	}
	for seq := uint64(1); ; seq++ {
		i := int(next.Add(1)) - 1
		if i >= n {
			return
		}
		var wg sync.WaitGroup
		for role := range streams {
			eb.number(msgs[role], role, seq, i)
			wg.Go(func() { exchange(b, streams[role], msgs[role], seq, perBatch) })
		}
		wg.Wait()
	}
}

// openIngest opens an Ingest stream that sends preEncoded batches; nil
// (the error reported) when it cannot.
func openIngest(b testing.TB, conn *grpc.ClientConn) grpc.ClientStream {
	desc := &shadowdiffv1.Collector_ServiceDesc.Streams[0]
	stream, err := conn.NewStream(context.Background(), desc, "/"+shadowdiffv1.Collector_ServiceDesc.ServiceName+"/"+desc.StreamName,
		grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		b.Error(err)
		return nil
	}
	return stream
}

// exchange sends a batch numbered seq and checks that its acknowledgement
// accepts all perBatch digests.
func exchange(b testing.TB, stream grpc.ClientStream, msg []byte, seq uint64, perBatch int) bool {
	if err := stream.SendMsg(preEncoded(msg)); err != nil {
		b.Error(err)
		return false
	}
	var ack shadowdiffv1.DigestAck
	if err := stream.RecvMsg(&ack); err != nil {
		b.Error(err)
		return false
	}
	if ack.Sequence != seq || ack.Accepted != uint32(perBatch) || len(ack.Rejections) != 0 {
		b.Errorf("ack %v: want sequence %d and %d accepted", &ack, seq, perBatch)
		return false
	}
	return true
}

// sendRoles is sendBatches for the first roles (1: primaries only) of
// requests numbered from base.
func sendRoles(b testing.TB, conn *grpc.ClientConn, eb *encodedBatches, next *atomic.Int64, n, perBatch, roles, base int) {
	stream := openIngest(b, conn)
	if stream == nil {
		return
	}
	defer stream.CloseSend()
	// The client's own buffers, reused once the server acknowledged them.
	var msgs [3][]byte
	for role := range msgs {
		msgs[role] = bytes.Clone(eb.wire[role])
	}
	seq := uint64(0)
	for {
		i := int(next.Add(1)) - 1
		if i >= n {
			return
		}
		for role := range roles {
			seq++
			eb.number(msgs[role], role, seq, base+i)
			if !exchange(b, stream, msgs[role], seq, perBatch) {
				return
			}
		}
	}
}
