package server

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// request is a request message for the codec to decode into msg. The
// codec leaves the decoding error in err instead of returning it: gRPC
// sends a codec's error to the client as Internal, before any handler or
// interceptor sees it, and a malformed request is the client's error
// (InvalidArgument).
type request struct {
	msg any
	err error
}

// invalidRequest is the refusal of msg, which could not be decoded.
func invalidRequest(msg any, err error) error {
	name := fmt.Sprintf("%T", msg)
	if m, ok := msg.(proto.Message); ok {
		name = string(m.ProtoReflect().Descriptor().Name())
	}
	return status.Errorf(codes.InvalidArgument, "request is not a valid %s: %v", name, err)
}

// invalidRequests returns desc with its unary handlers decoding their
// request as a request, so that a malformed one is refused with
// InvalidArgument. Streaming methods are left to invalidStreamRequests.
func invalidRequests(desc *grpc.ServiceDesc) *grpc.ServiceDesc {
	d := *desc
	d.Methods = slices.Clone(d.Methods)
	for i := range d.Methods {
		d.Methods[i].Handler = decodeRequest(d.Methods[i].Handler)
	}
	return &d
}

func decodeRequest(h grpc.MethodHandler) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		return h(srv, ctx, func(m any) error {
			r := request{msg: m}
			if err := dec(&r); err != nil {
				return err
			}
			if r.err != nil {
				return invalidRequest(m, r.err)
			}
			return nil
		}, interceptor)
	}
}

// invalidStreamRequests refuses a malformed message on a stream with
// InvalidArgument. Other errors of RecvMsg (io.EOF, the end of the call,
// a message over the size limit) are returned as they are. The Ingest
// stream decodes its batches itself (wireBatch).
func invalidStreamRequests(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod == shadowdiffv1.Collector_Ingest_FullMethodName {
		return handler(srv, ss)
	}
	return handler(srv, &decodingStream{ServerStream: ss})
}

// decodingStream is a ServerStream whose messages are received as requests.
type decodingStream struct {
	grpc.ServerStream
}

func (s *decodingStream) RecvMsg(m any) error {
	r := request{msg: m}
	if err := s.ServerStream.RecvMsg(&r); err != nil {
		return err
	}
	if r.err != nil {
		return invalidRequest(m, r.err)
	}
	return nil
}
