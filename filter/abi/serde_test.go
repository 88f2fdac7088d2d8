package abi

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMapRoundTrip(t *testing.T) {
	pairs := [][2]string{{":status", "200"}, {"x-a", ""}, {"", "v"}}
	got, err := decodeMap(nil, encodeMap(pairs))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pairs, got); diff != "" {
		t.Error(diff)
	}
	for _, empty := range [][]byte{nil, {0}} {
		if m, err := decodeMap(nil, empty); err != nil || len(m) != 0 {
			t.Errorf("empty map %v: %v %v", empty, m, err)
		}
	}
	if _, err := decodeMap(nil, []byte{9, 0, 0, 0, 1}); err == nil {
		t.Error("truncated map accepted")
	}
}

// The spec's worked example: {"1": "2"} (its 0x49/0x50 mean '1' and '2').
func TestMapMatchesSpecExample(t *testing.T) {
	want := []byte{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, '1', 0, '2', 0}
	if got := encodeMap([][2]string{{"1", "2"}}); !bytes.Equal(got, want) {
		t.Errorf("got % x", got)
	}
}

// The reference (proxy-wasm-abi.md §5.4): envoy_grpc{cluster_name:
// "digest_collector"} is 0a 12 0a 10 + the name, 20 bytes.
func TestGrpcService(t *testing.T) {
	got := grpcService("digest_collector", "")
	if want := "0a120a10" + hex.EncodeToString([]byte("digest_collector")); hex.EncodeToString(got) != want {
		t.Errorf("got %x", got)
	}
	// With an authority, EnvoyGrpc's field 2.
	got = grpcService("c", "a:1")
	if want := "0a080a0163" + "1203" + hex.EncodeToString([]byte("a:1")); hex.EncodeToString(got) != want {
		t.Errorf("with an authority: got %x, want %s", got, want)
	}
}

func TestPropertyPath(t *testing.T) {
	if got := appendPropertyPath(nil, []string{"xds", "route_name"}); string(got) != "xds\x00route_name" {
		t.Errorf("%q", got)
	}
}
