package server

import (
	"context"
	"slices"

	"google.golang.org/grpc"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// collectorDesc is the Collector service as generated, but for the
// decoding of Report's request: the generated handler decodes the whole
// batch before Report can check its size, and a flood of tiny digests
// costs hundreds of times its wire size decoded. Here a batch over
// --max-batch-digests is refused by its count, and a batch that cannot be
// decoded as malformed, both with InvalidArgument (an error from the codec
// would reach the client as Internal).
func collectorDesc() *grpc.ServiceDesc {
	desc := shadowdiffv1.Collector_ServiceDesc
	desc.Methods = slices.Clone(desc.Methods)
	for i := range desc.Methods {
		if desc.Methods[i].MethodName == "Report" {
			desc.Methods[i].Handler = reportHandler
		}
	}
	return &desc
}

// reportHandler is the generated Report handler with the request decoded
// as a wireBatch.
func reportHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	c := srv.(*collector)
	wb := &wireBatch{maxDigests: c.maxDigests, pool: c.buffers}
	if err := dec(wb); err != nil {
		return nil, err
	}
	wb.free() // Report stores the decoded digests, not their encodings
	if wb.malformed != nil {
		return nil, c.malformedBatch(rpcReport, wb.malformed)
	}
	if wb.over > 0 {
		return nil, c.tooManyDigests(rpcReport, wb.batch.GetSequence(), wb.over)
	}
	if interceptor == nil {
		return c.report(ctx, wb.batch, wb.undecodable)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: shadowdiffv1.Collector_Report_FullMethodName}
	return interceptor(ctx, wb.batch, info, func(ctx context.Context, req any) (any, error) {
		return c.report(ctx, req.(*shadowdiffv1.DigestBatch), wb.undecodable)
	})
}
