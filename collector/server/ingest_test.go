package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/shadowdiff/shadowdiff/collector/engine"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func TestIngestAcksEachBatch(t *testing.T) {
	eng := newEngine(t)
	r := start(t, eng, eng.QueryServer(), Options{})
	stream, err := shadowdiffv1.NewCollectorClient(r.conn).Ingest(context.Background())
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	bad := digests(4, shadowdiffv1.Role_ROLE_CANDIDATE)
	bad[1].PairingKey = ""
	bad[3].Role = shadowdiffv1.Role_ROLE_UNSPECIFIED
	batches := []*shadowdiffv1.DigestBatch{
		{Sequence: 1, Digests: digests(3, shadowdiffv1.Role_ROLE_PRIMARY)},
		{Sequence: 2, Digests: bad, Dropped: 5},
		{Sequence: 3},                                                        // empty: still acknowledged
		{Sequence: 7, Digests: digests(1, shadowdiffv1.Role_ROLE_SECONDARY)}, // gaps are allowed
	}
	want := []struct {
		accepted uint32
		rejected []uint32
	}{{3, nil}, {2, []uint32{1, 3}}, {0, nil}, {1, nil}}
	for i, b := range batches {
		if err := stream.Send(b); err != nil {
			t.Fatalf("send %d: %v", b.Sequence, err)
		}
		ack, err := stream.Recv()
		if err != nil {
			t.Fatalf("recv ack %d: %v", b.Sequence, err)
		}
		if ack.GetSequence() != b.GetSequence() || ack.GetAccepted() != want[i].accepted {
			t.Errorf("ack = seq %d accepted %d, want seq %d accepted %d", ack.GetSequence(), ack.GetAccepted(), b.GetSequence(), want[i].accepted)
		}
		var got []uint32
		for _, rej := range ack.GetRejections() {
			got = append(got, rej.GetIndex())
			if rej.GetReason() == "" {
				t.Errorf("rejection %d has no reason", rej.GetIndex())
			}
		}
		if len(got) != len(want[i].rejected) || (len(got) > 0 && (got[0] != want[i].rejected[0] || got[1] != want[i].rejected[1])) {
			t.Errorf("batch %d rejections = %v, want %v", b.Sequence, got, want[i].rejected)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("after CloseSend: %v, want EOF", err)
	}
	// The engine records what the filters dropped, for the query API.
	list, err := eng.QueryServer().ListEndpoints(context.Background(), &shadowdiffv1.ListEndpointsRequest{})
	if err != nil || list.GetTotals().GetDroppedByFilters() != 5 {
		t.Errorf("totals after a batch reporting 5 dropped = %v, %v; want dropped_by_filters 5", list.GetTotals(), err)
	}
	r.stop(t)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"shadowdiff_server_ingest_batches_total", map[string]string{"rpc": "ingest", "result": "ok"}, 4},
		{"shadowdiff_server_ingest_digests_received_total", map[string]string{"rpc": "ingest"}, 8},
		{"shadowdiff_server_ingest_digests_rejected_total", map[string]string{"rpc": "ingest"}, 2},
		{"shadowdiff_server_filter_dropped_digests_total", map[string]string{"rpc": "ingest"}, 5},
		{"shadowdiff_server_ingest_streams_active", nil, 0},
	} {
		if got := metricValue(t, r.reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := histogramCount(t, r.reg, "shadowdiff_server_ingest_duration_seconds", map[string]string{"rpc": "ingest"}); n != 3 {
		t.Errorf("latency observations = %d, want 3 (empty batches are not timed)", n)
	}
}

func TestIngestRefusesBadBatches(t *testing.T) {
	for _, c := range []struct {
		name    string
		opts    Options
		batches []*shadowdiffv1.DigestBatch
		want    string
	}{
		{"sequence zero", Options{}, []*shadowdiffv1.DigestBatch{{Sequence: 0}}, "sequence 0 does not follow 0"},
		{"sequence backwards", Options{}, []*shadowdiffv1.DigestBatch{{Sequence: 2}, {Sequence: 2}}, "sequence 2 does not follow 2"},
		{"too many digests", Options{MaxBatchDigests: 3}, []*shadowdiffv1.DigestBatch{{Sequence: 1, Digests: digests(4, shadowdiffv1.Role_ROLE_PRIMARY)}}, "4 digests, more than the collector's limit of 3 (--max-batch-digests)"},
		{"too many bytes", Options{MaxRecvBytes: 1000}, []*shadowdiffv1.DigestBatch{{Sequence: 1, Digests: digests(30, shadowdiffv1.Role_ROLE_PRIMARY)}}, "limit of 1000 bytes (--max-recv-bytes)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := start(t, &memIngester{}, fixedQuery{}, c.opts)
			stream, err := shadowdiffv1.NewCollectorClient(r.conn).Ingest(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range c.batches {
				if err := stream.Send(b); err != nil && err != io.EOF {
					t.Fatal(err)
				}
			}
			var last error
			for last == nil {
				_, last = stream.Recv()
			}
			if status.Code(last) != codes.InvalidArgument || !strings.Contains(status.Convert(last).Message(), c.want) {
				t.Errorf("stream ended with %v, want InvalidArgument containing %q", last, c.want)
			}
			if got := metricValue(t, r.reg, "shadowdiff_server_ingest_batches_total", map[string]string{"rpc": "ingest", "result": "invalid"}); got != 1 {
				t.Errorf("invalid batches = %v, want 1", got)
			}
		})
	}
}

// A batch that is not a DigestBatch (a digest whose length runs past the
// end) is the sender's error: InvalidArgument with the decoder's reason,
// counted as invalid, on both RPCs. gRPC would send a codec error as
// Internal.
func TestMalformedBatchIsInvalidArgument(t *testing.T) {
	malformed := preEncoded{batchDigests<<3 | 2, 5, 0x0a}
	r := start(t, &memIngester{}, fixedQuery{}, Options{})
	var ack shadowdiffv1.DigestAck
	err := r.conn.Invoke(context.Background(), shadowdiffv1.Collector_Report_FullMethodName, malformed, &ack, grpc.ForceCodecV2(rawCodec{}))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "not a valid DigestBatch") {
		t.Errorf("Report: %v, want InvalidArgument saying the batch is not a valid DigestBatch", err)
	}
	desc := &shadowdiffv1.Collector_ServiceDesc.Streams[0]
	stream, err := r.conn.NewStream(context.Background(), desc, shadowdiffv1.Collector_Ingest_FullMethodName, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(malformed); err != nil {
		t.Fatal(err)
	}
	err = stream.RecvMsg(&ack)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "not a valid DigestBatch") {
		t.Errorf("Ingest: %v, want InvalidArgument saying the batch is not a valid DigestBatch", err)
	}
	for _, rpc := range []string{"report", "ingest"} {
		if got := metricValue(t, r.reg, "shadowdiff_server_ingest_batches_total", map[string]string{"rpc": rpc, "result": "invalid"}); got != 1 {
			t.Errorf("%s: invalid batches = %v, want 1", rpc, got)
		}
	}
}

// undecodableDigests are digests whose framing in the batch is sound but
// whose contents cannot be decoded, each with the pairing key req-1: a
// body field entry with a wrong wire type in the plain form the filter
// writes and in forms that are not plain, and a digest cut inside a field.
func undecodableDigests() map[string][]byte {
	badBody := bytesField(nil, digestBody, string(bytesField(nil, bodyFields, string(varintField(nil, 1, 1)))))
	d := bytesField(nil, 1, "req-1")
	d = varintField(d, 2, uint64(shadowdiffv1.Role_ROLE_CANDIDATE))
	d = varintField(d, 6, 200)
	with := func(extra ...[]byte) []byte { return concat(append([][]byte{d, badBody}, extra...)...) }
	overlong := []byte{9 << 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	return map[string][]byte{
		"bad field entry, plain":                with(),
		"bad field entry, unknown digest field": with(varintField(nil, 14, 1)),
		"bad field entry, overlong varint":      with(overlong),
		"body occurrence cut short":             concat(d, bytesField(nil, digestBody, string([]byte{6 << 3})), bytesField(nil, digestBody, "\x01")),
		"digest cut inside its pairing key":     bytesField(nil, 1, "req-1")[:4],
	}
}

// A digest that cannot be decoded, in a batch whose framing is sound, is
// rejected alone with its index and why: the batch's other digests are
// stored (or rejected for their own reasons, at their own index) and the
// stream stays open, whatever form the digest is in and whether the
// ingester reads the encodings (the engine) or not. Report names it, and
// with a validator stores nothing of the batch.
func TestUndecodableDigestIsRejectedAlone(t *testing.T) {
	good := fiftyFieldDigests(3)
	good[1].PairingKey = "" // decodable, rejected by the ingester
	var encoded [][]byte
	for _, d := range good {
		encoded = append(encoded, marshal(t, &shadowdiffv1.DigestBatch{Digests: []*shadowdiffv1.ResponseDigest{d}})) // the field, tag and all
	}
	for name, bad := range undecodableDigests() {
		t.Run(name, func(t *testing.T) {
			// Digest 1 cannot be decoded, digest 2 has no pairing key.
			batch := func(seq uint64) preEncoded {
				return append(varintField(nil, 1, seq), concat(encoded[0], bytesField(nil, batchDigests, string(bad)), encoded[1], encoded[2])...)
			}
			for _, ing := range []struct {
				name string
				new  func() Ingester
			}{{"engine", func() Ingester { return newEngine(t) }}, {"memIngester", func() Ingester { return &memIngester{} }}} {
				r := start(t, ing.new(), fixedQuery{}, Options{})
				desc := &shadowdiffv1.Collector_ServiceDesc.Streams[0]
				stream, err := r.conn.NewStream(context.Background(), desc, shadowdiffv1.Collector_Ingest_FullMethodName, grpc.ForceCodecV2(rawCodec{}))
				if err != nil {
					t.Fatal(err)
				}
				for seq := uint64(1); seq <= 2; seq++ {
					if err := stream.SendMsg(batch(seq)); err != nil {
						t.Fatal(err)
					}
					var ack shadowdiffv1.DigestAck
					if err := stream.RecvMsg(&ack); err != nil {
						t.Fatalf("%s: batch %d: %v, want an ack", ing.name, seq, err)
					}
					rej := ack.GetRejections()
					if ack.GetAccepted() != 2 || len(rej) != 2 ||
						rej[0].GetIndex() != 1 || !strings.HasPrefix(rej[0].GetReason(), "undecodable: ") && !strings.HasPrefix(rej[0].GetReason(), "body.fields: undecodable: ") ||
						rej[1].GetIndex() != 2 || !strings.Contains(rej[1].GetReason(), "pairing_key") {
						t.Errorf("%s: ack %v, want 2 accepted, digest 1 rejected as undecodable and digest 2 for its pairing key", ing.name, &ack)
					}
				}
				if got := metricValue(t, r.reg, "shadowdiff_server_ingest_digests_rejected_total", map[string]string{"rpc": "ingest"}); got != 4 {
					t.Errorf("%s: rejected digests = %v, want 4", ing.name, got)
				}
			}

			mem := &memIngester{}
			r := start(t, mem, fixedQuery{}, Options{})
			var ack shadowdiffv1.DigestAck
			err := r.conn.Invoke(context.Background(), shadowdiffv1.Collector_Report_FullMethodName, batch(1), &ack, grpc.ForceCodecV2(rawCodec{}))
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "digest 1: undecodable: ") || !strings.Contains(err.Error(), "(2 rejected, 2 accepted)") {
				t.Errorf("Report: %v, want InvalidArgument naming digest 1, the valid digests stored", err)
			}
			r = start(t, mem, fixedQuery{}, Options{Validate: engine.Validate})
			err = r.conn.Invoke(context.Background(), shadowdiffv1.Collector_Report_FullMethodName, batch(1), &ack, grpc.ForceCodecV2(rawCodec{}))
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "digest 1: undecodable: ") || !strings.Contains(err.Error(), "nothing of the batch was stored") {
				t.Errorf("Report with a validator: %v, want InvalidArgument naming digest 1, nothing stored", err)
			}
			// An invalid digest before the undecodable one is the one named.
			first := preEncoded(append(varintField(nil, 1, 1), concat(encoded[1], bytesField(nil, batchDigests, string(bad)), encoded[0])...))
			err = r.conn.Invoke(context.Background(), shadowdiffv1.Collector_Report_FullMethodName, first, &ack, grpc.ForceCodecV2(rawCodec{}))
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "digest 0: ") || !strings.Contains(err.Error(), "pairing_key") {
				t.Errorf("Report with a validator, digest 0 invalid and 1 undecodable: %v, want InvalidArgument naming digest 0", err)
			}
			if n, _ := mem.count(); n != 2 {
				t.Errorf("the Reports stored %d digests, want the first one's 2", n)
			}
		})
	}
}

func TestIngestBeyondReadLimit(t *testing.T) {
	r := start(t, &memIngester{}, fixedQuery{}, Options{MaxRecvBytes: 1000})
	stream, err := shadowdiffv1.NewCollectorClient(r.conn).Ingest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&shadowdiffv1.DigestBatch{Sequence: 1, Digests: digests(100, shadowdiffv1.Role_ROLE_PRIMARY)}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("batch over twice the limit: %v, want ResourceExhausted from gRPC", err)
	}
}

// TestFilterDropsReachTheIngester checks DigestBatch.dropped is passed to
// an ingester that records drops.
func TestFilterDropsReachTheIngester(t *testing.T) {
	ing := &memIngester{}
	r := start(t, ing, fixedQuery{}, Options{})
	client := shadowdiffv1.NewCollectorClient(r.conn)
	for _, d := range []uint64{5, 0, 7} {
		if _, err := client.Report(context.Background(), &shadowdiffv1.DigestBatch{Sequence: 1, Digests: digests(1, shadowdiffv1.Role_ROLE_PRIMARY), Dropped: d}); err != nil {
			t.Fatal(err)
		}
	}
	if stored, dropped := ing.count(); stored != 3 || dropped != 12 {
		t.Errorf("ingester holds %d digests and %d dropped, want 3 and 12", stored, dropped)
	}
}

// A batch whose digests could not be stored does not count the drops it
// reports: the filter sends them again with the batch.
func TestDropsOfARefusedBatchAreNotCounted(t *testing.T) {
	ing := &memIngester{fail: errStore}
	r := start(t, ing, fixedQuery{}, Options{})
	_, err := shadowdiffv1.NewCollectorClient(r.conn).Report(context.Background(),
		&shadowdiffv1.DigestBatch{Sequence: 1, Digests: digests(1, shadowdiffv1.Role_ROLE_PRIMARY), Dropped: 5})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
	if _, dropped := ing.count(); dropped != 0 {
		t.Errorf("%d drops recorded from a batch that was not stored", dropped)
	}
}

// A failed write ends the stream Unavailable: the filter sends the batch
// again.
func TestIngestFailureIsUnavailable(t *testing.T) {
	r := start(t, &memIngester{fail: errStore}, fixedQuery{}, Options{})
	stream, err := shadowdiffv1.NewCollectorClient(r.conn).Ingest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&shadowdiffv1.DigestBatch{Sequence: 1, Digests: digests(2, shadowdiffv1.Role_ROLE_PRIMARY)}); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("got %v, want Unavailable with the cause", err)
	}
}

// A bug the engine reports as Internal, which the same batch would hit
// again, has the batch's digests rejected with the cause; the stream goes
// on, so the batches behind it are not lost with it.
func TestIngestInternalErrorRejectsTheBatch(t *testing.T) {
	ing := &memIngester{fail: fmt.Errorf("engine: %w", status.Error(codes.Internal, "internal error building the batch"))}
	r := start(t, ing, fixedQuery{}, Options{})
	stream, err := shadowdiffv1.NewCollectorClient(r.conn).Ingest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for seq := range uint64(2) {
		if err := stream.Send(&shadowdiffv1.DigestBatch{Sequence: seq + 1, Digests: digests(2, shadowdiffv1.Role_ROLE_PRIMARY)}); err != nil {
			t.Fatal(err)
		}
		ack, err := stream.Recv()
		if err != nil {
			t.Fatalf("batch %d: %v, want an acknowledgement", seq+1, err)
		}
		if ack.GetAccepted() != 0 || len(ack.GetRejections()) != 2 || !strings.Contains(ack.GetRejections()[1].GetReason(), "internal error") {
			t.Errorf("batch %d: ack %v, want both digests rejected with the cause", seq+1, ack)
		}
	}
}

// Once a batch's digests are stored it is acknowledged, even if the drops
// it reports cannot be recorded: sent again, its digests would count twice.
func TestDropRecordFailureAfterStoreStillAcknowledges(t *testing.T) {
	ing := &dropFailIngester{}
	r := start(t, ing, fixedQuery{}, Options{})
	c := shadowdiffv1.NewCollectorClient(r.conn)
	ack, err := c.Report(context.Background(), &shadowdiffv1.DigestBatch{Sequence: 1, Digests: digests(1, shadowdiffv1.Role_ROLE_PRIMARY), Dropped: 5})
	if err != nil || ack.GetAccepted() != 1 {
		t.Fatalf("got %v %v, want the digest acknowledged", ack, err)
	}
	_, err = c.Report(context.Background(), &shadowdiffv1.DigestBatch{Sequence: 2, Dropped: 5})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("a batch of drops alone that cannot be recorded: %v, want Unavailable", err)
	}
}

type dropFailIngester struct{ memIngester }

func (*dropFailIngester) RecordDropped(context.Context, uint64) error { return errors.New("disk full") }

func TestPanicIsInternalAndServerSurvives(t *testing.T) {
	ing := &memIngester{panics: true}
	r := start(t, ing, fixedQuery{}, Options{})
	client := shadowdiffv1.NewCollectorClient(r.conn)
	_, err := client.Report(context.Background(), &shadowdiffv1.DigestBatch{Sequence: 1, Digests: digests(1, shadowdiffv1.Role_ROLE_PRIMARY)})
	if status.Code(err) != codes.Internal {
		t.Fatalf("Report with a panicking ingester: %v, want Internal", err)
	}
	ing.mu.Lock()
	ing.panics = false
	ing.mu.Unlock()
	if _, err := client.Report(context.Background(), &shadowdiffv1.DigestBatch{Sequence: 1, Digests: digests(1, shadowdiffv1.Role_ROLE_PRIMARY)}); err != nil {
		t.Fatalf("Report after the panic: %v", err)
	}
}

func TestReport(t *testing.T) {
	eng := newEngine(t)
	r := start(t, eng, eng.QueryServer(), Options{MaxBatchDigests: 10})
	client := shadowdiffv1.NewCollectorClient(r.conn)
	ack, err := client.Report(context.Background(), &shadowdiffv1.DigestBatch{Sequence: 9, Digests: digests(3, shadowdiffv1.Role_ROLE_PRIMARY)})
	if err != nil || ack.GetSequence() != 9 || ack.GetAccepted() != 3 {
		t.Fatalf("Report = %v, %v; want seq 9 accepted 3", ack, err)
	}
	bad := digests(3, shadowdiffv1.Role_ROLE_PRIMARY)
	bad[2].PairingKey = ""
	_, err = client.Report(context.Background(), &shadowdiffv1.DigestBatch{Sequence: 1, Digests: bad})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "digest 2: pairing_key") {
		t.Errorf("Report with a bad digest: %v, want InvalidArgument naming digest 2", err)
	}
	if _, err := eng.QueryServer().GetRequest(context.Background(), &shadowdiffv1.GetRequestRequest{PairingKey: "req-0"}); err != nil {
		t.Errorf("without a validator the valid digests of a refused batch are stored; GetRequest: %v", err)
	}
	_, err = client.Report(context.Background(), &shadowdiffv1.DigestBatch{Sequence: 1, Digests: digests(11, shadowdiffv1.Role_ROLE_PRIMARY)})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "--max-batch-digests") {
		t.Errorf("Report over the batch limit: %v, want InvalidArgument", err)
	}
	if got := metricValue(t, r.reg, "shadowdiff_server_ingest_batches_total", map[string]string{"rpc": "report", "result": "ok"}); got != 2 {
		t.Errorf("report batches ok = %v, want 2", got)
	}
}

func TestReportWithValidatorIsAllOrNothing(t *testing.T) {
	eng := newEngine(t)
	r := start(t, eng, eng.QueryServer(), Options{Validate: engine.Validate})
	bad := digests(3, shadowdiffv1.Role_ROLE_PRIMARY)
	bad[1].Status = 999
	_, err := shadowdiffv1.NewCollectorClient(r.conn).Report(context.Background(), &shadowdiffv1.DigestBatch{Sequence: 1, Digests: bad})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "digest 1: status") || !strings.Contains(err.Error(), "nothing of the batch was stored") {
		t.Fatalf("Report with a bad digest: %v, want InvalidArgument naming digest 1", err)
	}
	// Digest 0 was valid: with the validator it was not stored either.
	_, err = eng.QueryServer().GetRequest(context.Background(), &shadowdiffv1.GetRequestRequest{PairingKey: "req-0"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetRequest of a digest from the refused batch: %v, want NotFound", err)
	}
}

// metricValue reads a counter or gauge from the registry; labels must match exactly.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	for _, m := range find(t, reg, name, labels) {
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) uint64 {
	t.Helper()
	for _, m := range find(t, reg, name, labels) {
		return m.GetHistogram().GetSampleCount()
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

// A sender that exits without CloseSend (its connection closes after an
// ack) must not leave its handler behind: the stream gauge goes back to 0.
func TestIngestEndsWhenSenderGoesAway(t *testing.T) {
	r := start(t, &memIngester{}, fixedQuery{}, Options{})
	// Several senders: without the fix each handler had an even chance to
	// see its receive error rather than wait for ever.
	const senders = 8
	for range senders {
		conn, err := grpc.NewClient(r.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		ackedStream(t, context.Background(), conn)
		conn.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, r.reg, "shadowdiff_server_ingest_streams_active", nil) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%v ingest streams still active 10 s after their senders went away", metricValue(t, r.reg, "shadowdiff_server_ingest_streams_active", nil))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A batch reporting more drops than any filter makes is refused, so the
// engine's count of digests dropped by filters cannot wrap around.
func TestDroppedBeyondBoundIsRefused(t *testing.T) {
	eng := newEngine(t)
	r := start(t, eng, eng.QueryServer(), Options{})
	client := shadowdiffv1.NewCollectorClient(r.conn)
	ctx := context.Background()
	for range 2 {
		if _, err := client.Report(ctx, &shadowdiffv1.DigestBatch{Sequence: 1, Dropped: maxDropped}); err != nil {
			t.Fatalf("Report of %d dropped (the bound): %v", uint64(maxDropped), err)
		}
	}
	for range 2 {
		_, err := client.Report(ctx, &shadowdiffv1.DigestBatch{Sequence: 1, Dropped: math.MaxUint64})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "digests dropped") {
			t.Errorf("Report of 2^64-1 dropped: %v, want InvalidArgument", err)
		}
	}
	stream, err := client.Ingest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&shadowdiffv1.DigestBatch{Sequence: 1, Dropped: maxDropped + 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "digests dropped") {
		t.Errorf("Ingest of 2^53+1 dropped: %v, want InvalidArgument", err)
	}
	list, err := eng.QueryServer().ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{})
	if want := uint64(2 * maxDropped); err != nil || list.GetTotals().GetDroppedByFilters() != want {
		t.Errorf("dropped_by_filters = %d, %v; want %d (the refused batches not added)", list.GetTotals().GetDroppedByFilters(), err, want)
	}
	for _, rpc := range []string{"report", "ingest"} {
		want := map[string]float64{"report": 2, "ingest": 1}[rpc]
		if got := metricValue(t, r.reg, "shadowdiff_server_ingest_batches_total", map[string]string{"rpc": rpc, "result": "invalid"}); got != want {
			t.Errorf("%s: invalid batches = %v, want %v", rpc, got, want)
		}
	}
}
