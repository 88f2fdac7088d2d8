package server

import (
	"context"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// sizeRecorder is a gRPC stats handler that remembers the decoded size of
// the last message received on each ingest call, so the handlers can check
// --max-recv-bytes without measuring the batch again.
type sizeRecorder struct{}

type lastSizeKey struct{}

var collectorPrefix = "/" + shadowdiffv1.Collector_ServiceDesc.ServiceName + "/"

func (sizeRecorder) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	if strings.HasPrefix(info.FullMethodName, collectorPrefix) {
		return context.WithValue(ctx, lastSizeKey{}, new(atomic.Int64))
	}
	return ctx
}

func (sizeRecorder) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InPayload); ok {
		if last, ok := ctx.Value(lastSizeKey{}).(*atomic.Int64); ok {
			last.Store(int64(in.Length))
		}
	}
}

func (sizeRecorder) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (sizeRecorder) HandleConn(context.Context, stats.ConnStats)                       {}

// receivedSize is the decoded size of the last message received in ctx's
// call, measured again only if the stats handler did not see it.
func receivedSize(ctx context.Context, m proto.Message) int {
	if last, ok := ctx.Value(lastSizeKey{}).(*atomic.Int64); ok && last.Load() > 0 {
		return int(last.Load())
	}
	return proto.Size(m)
}
