package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// TestRestartKeepsAcknowledged: what the collector acknowledged before a
// graceful shutdown is there after a restart on the same data directory.
func TestRestartKeepsAcknowledged(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	a, stop := startCollector(t, "--data-dir", dir)
	conn := dial(t, a.grpc.String())
	var batch []*shadowdiffv1.ResponseDigest
	for i := range 10 {
		for _, r := range []shadowdiffv1.Role{shadowdiffv1.Role_ROLE_PRIMARY, shadowdiffv1.Role_ROLE_SECONDARY, shadowdiffv1.Role_ROLE_CANDIDATE} {
			batch = append(batch, &shadowdiffv1.ResponseDigest{
				PairingKey: fmt.Sprintf("restart-%d", i), Role: r, Status: 200,
				Endpoint: &shadowdiffv1.EndpointRef{Method: "GET", Path: fmt.Sprintf("/items/%d", i)},
				Request:  &shadowdiffv1.RequestFingerprint{Method: "GET", Path: fmt.Sprintf("/items/%d", i)},
			})
		}
	}
	// Half the last request: acknowledged but still waiting for its pair.
	batch = append(batch, &shadowdiffv1.ResponseDigest{PairingKey: "restart-pending", Role: shadowdiffv1.Role_ROLE_PRIMARY, Status: 200,
		Endpoint: &shadowdiffv1.EndpointRef{Method: "GET", Path: "/items/99"}})
	ack, err := shadowdiffv1.NewCollectorClient(conn).Report(ctx, &shadowdiffv1.DigestBatch{Sequence: 1, Digests: batch})
	if err != nil || int(ack.GetAccepted()) != len(batch) {
		t.Fatalf("Report = %v, %v", ack, err)
	}
	conn.Close()
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	a, _ = startCollector(t, "--data-dir", dir)
	conn = dial(t, a.grpc.String())
	defer conn.Close()
	query := shadowdiffv1.NewQueryClient(conn)
	resp, err := query.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetTotals().GetCompared() != 10 {
		t.Errorf("after restart: %d compared requests, want 10: %v", resp.GetTotals().GetCompared(), resp)
	}
	if rec, err := query.GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: "restart-3"}); err != nil || rec.GetCandidate() == nil {
		t.Errorf("GetRequest after restart = %v, %v", rec, err)
	}
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}
