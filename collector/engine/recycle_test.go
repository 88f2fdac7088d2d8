package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Recycling the field slices of closed requests must change nothing the
// engine reports: the same random traffic (encoded and full digests,
// missing roles, duplicates, rejected digests, repeats without a
// secondary, raw values, expiries and evictions) goes into an engine that
// recycles and one that does not, and every endpoint, field and request
// must read the same. A broad net, not a proof: with the repeat cache's
// primary recycled every seed fails; with the diff's scratch reaching the
// pool (TestFinalizeScratchStaysOutOfThePool) about one seed in six.
func TestRecyclingChangesNoResult(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			recyclingChangesNoResult(t, seed)
		})
	}
}

func recyclingChangesNoResult(t *testing.T, seed uint64) {
	steps := randomTraffic(rand.New(rand.NewPCG(seed, 11)), 1500)
	keys := map[string]bool{}
	for _, st := range steps {
		for _, d := range st.ds {
			keys[d.d.PairingKey] = true
		}
	}
	run := func(keepAll bool) (*Engine, func()) {
		clk := newClock()
		e := openEngine(t, t.TempDir(), clk, Options{MaxPending: 40})
		e.bodyFields.keepAll = keepAll
		for _, st := range steps {
			clk.Add(st.advance)
			if err := e.expire(); err != nil {
				t.Fatal(err)
			}
			sendStep(t, e, st)
		}
		return e, func() { e.Close() }
	}
	a, closeA := run(false)
	defer closeA()
	b, closeB := run(true)
	defer closeB()

	ctx := context.Background()
	ea, err := a.QueryServer().ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	eb, err := b.QueryServer().ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(ea, eb) {
		t.Fatalf("endpoints differ:\n%v\n%v", ea, eb)
	}
	if len(ea.Endpoints) < 3 || ea.Totals.Compared < 500 {
		t.Fatalf("the traffic compared too little to tell: %v", ea.Totals)
	}
	for _, ep := range ea.Endpoints {
		fa, err := a.QueryServer().ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: ep.Endpoint})
		if err != nil {
			t.Fatal(err)
		}
		fb, err := b.QueryServer().ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: ep.Endpoint})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(fa, fb) {
			t.Errorf("fields of %s differ:\n%v\n%v", ep.Endpoint, fa, fb)
		}
	}
	for k := range keys {
		ra, errA := a.QueryServer().GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: k})
		rb, errB := b.QueryServer().GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: k})
		if fmt.Sprint(errA) != fmt.Sprint(errB) || !proto.Equal(ra, rb) {
			t.Errorf("request %s differs:\n%v %v\n%v %v", k, ra, errA, rb, errB)
		}
	}
}

type sentDigest struct {
	d       *shadowdiffv1.ResponseDigest
	encoded bool
}

type trafficStep struct {
	advance time.Duration
	ds      []sentDigest
}

// randomTraffic builds n requests' digests in batches of a few requests,
// roles shuffled within a batch and some held back to a later one.
func randomTraffic(r *rand.Rand, n int) []trafficStep {
	fieldsOf := func(endpoint string, n int, vary func(i int) string) []f {
		var fs []f
		for i := range n {
			fs = append(fs, f{fmt.Sprintf("%s.f%02d", endpoint, i), tStr, sText, vary(i)})
		}
		return fs
	}
	var steps []trafficStep
	var held []sentDigest
	for req := 0; req < n; {
		var st trafficStep
		st.advance = time.Duration(r.IntN(400)) * time.Millisecond
		if r.IntN(50) == 0 {
			st.advance = 11 * time.Second // past the window: pending requests expire
		}
		st.ds, held = held, nil
		for range 1 + r.IntN(6) {
			key := fmt.Sprintf("r%05d", req)
			req++
			var endpoint string
			var nf int
			withSecondary := true
			switch r.IntN(5) {
			case 0:
				endpoint, nf = "/a", 50
			case 1:
				endpoint, nf = "/b", 8
			case 2:
				endpoint, nf = "/c", 0 // no body fields
			case 3:
				// No secondary ever: noise is learnt from repeats, whose
				// primaries the repeat cache keeps.
				// Lists of many sizes, often a power of two: the capacity a
				// slice grown by append has, so that such slices, if they
				// wrongly reached the pool, would be handed out again.
				endpoint, nf, withSecondary = "/d", 1+r.IntN(64), false
				if r.IntN(2) == 0 {
					nf = 8 << r.IntN(4)
				}
			default:
				endpoint, nf, withSecondary = "/e", 0, false
			}
			repeatable := !withSecondary && r.IntN(2) == 0 // the same request again
			for _, role := range []shadowdiffv1.Role{primary, secondary, candidate} {
				if role == secondary && (!withSecondary || r.IntN(10) == 0) {
					continue
				}
				if role == candidate && r.IntN(20) == 0 {
					continue
				}
				noisy := r.IntN(3) == 0
				fs := fieldsOf(endpoint, nf, func(i int) string {
					switch {
					case i == 1 && noisy:
						return fmt.Sprint(r.IntN(1000))
					case i == 2 && role == candidate && r.IntN(5) == 0:
						return "changed"
					}
					return "v"
				})
				d := withHeaders(dg(key, role, endpoint, 200, fs...), "etag", fmt.Sprint(r.IntN(3)), "date", fmt.Sprint(req))
				if nf == 0 {
					d.Body = &shadowdiffv1.BodyDigest{Kind: shadowdiffv1.BodyKind_BODY_KIND_TEXT, Hash: uint64(r.IntN(2))}
				}
				if nf > 3 && r.IntN(4) == 0 {
					raw := strings.Repeat("x", r.IntN(20))
					d.Body.Fields[3].RawValue = &raw
				}
				if repeatable {
					d.Request.QueryHash = 1 // all the same request
				}
				if r.IntN(100) == 0 && nf > 1 {
					d.Body.Fields[1].Path = d.Body.Fields[0].Path // rejected: a path twice
				}
				sd := sentDigest{d: d, encoded: r.IntN(2) == 0}
				st.ds = append(st.ds, sd)
				if r.IntN(30) == 0 {
					st.ds = append(st.ds, sentDigest{d: d.CloneVT(), encoded: sd.encoded}) // a retry
				}
			}
		}
		r.Shuffle(len(st.ds), func(i, j int) { st.ds[i], st.ds[j] = st.ds[j], st.ds[i] })
		if k := r.IntN(3); k > 0 && k < len(st.ds) {
			held = append(held, st.ds[len(st.ds)-k:]...) // late by one step
			st.ds = st.ds[:len(st.ds)-k]
		}
		steps = append(steps, st)
	}
	if len(held) > 0 {
		steps = append(steps, trafficStep{ds: held})
	}
	return steps
}

// sendStep ingests a step's digests in one call for the encoded ones and
// one for the others, each digest a copy (the engine keeps and sorts
// what it is given).
func sendStep(t *testing.T, e *Engine, st trafficStep) {
	t.Helper()
	var enc, full []*shadowdiffv1.ResponseDigest
	var wire [][]byte
	for _, sd := range st.ds {
		d := sd.d.CloneVT()
		if !sd.encoded {
			full = append(full, d)
			continue
		}
		w, err := d.MarshalVT()
		if err != nil {
			t.Fatal(err)
		}
		if d.Body != nil {
			d.Body.Fields = nil
		}
		enc, wire = append(enc, d), append(wire, w)
	}
	if len(enc) > 0 {
		if _, _, err := e.IngestEncoded(context.Background(), enc, wire); err != nil {
			t.Fatal(err)
		}
	}
	if len(full) > 0 {
		if _, _, err := e.Ingest(context.Background(), full); err != nil {
			t.Fatal(err)
		}
	}
}
