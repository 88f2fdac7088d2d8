// Package wire is the filter's side of proto/shadowdiff/v1: plain Go structs
// for the messages the filter sends and receives, encoded with protowire.
//
// The filter does not link the generated code: the protobuf runtime would
// roughly double the size of filter.wasm, which every sidecar downloads and
// compiles. Tests check every encoding against the generated types.
package wire

// Enumerations, numbered as in digest.proto.
type (
	Role       int32
	SkipReason int32
	JSONType   int32
	Shape      int32
	BodyKind   int32
)

const (
	RolePrimary   Role = 1
	RoleSecondary Role = 2
	RoleCandidate Role = 3
)

const (
	SkipSideEffect SkipReason = 1
	SkipNoResponse SkipReason = 2
)

const (
	TypeNull   JSONType = 1
	TypeBool   JSONType = 2
	TypeNumber JSONType = 3
	TypeString JSONType = 4
	TypeObject JSONType = 5
	TypeArray  JSONType = 6
	TypeMixed  JSONType = 7
)

const (
	ShapeUnspecified  Shape = 0
	ShapeEmpty        Shape = 1
	ShapeTimestamp    Shape = 2
	ShapeDate         Shape = 3
	ShapeUUID         Shape = 4
	ShapeNumeric      Shape = 5
	ShapeHex          Shape = 6
	ShapeBase64       Shape = 7
	ShapeURL          Shape = 8
	ShapeEmail        Shape = 9
	ShapeText         Shape = 10
	ShapeInteger      Shape = 11
	ShapeDecimal      Shape = 12
	ShapeEpochSeconds Shape = 13
	ShapeEpochMillis  Shape = 14
	ShapeTrue         Shape = 15
	ShapeFalse        Shape = 16
	ShapeNull         Shape = 17
	ShapeMixed        Shape = 18
)

const (
	BodyEmpty       BodyKind = 1
	BodyJSON        BodyKind = 2
	BodyInvalidJSON BodyKind = 3
	BodyText        BodyKind = 4
	BodyBinary      BodyKind = 5
)

// FieldEntry is one generalised JSON path of a body (digest.proto FieldEntry).
type FieldEntry struct {
	// Path must be valid UTF-8, as the digester writes it: the encoder,
	// which checks other strings, does not check every field's.
	Path          string
	Type          JSONType
	Shape         Shape
	LengthBucket  uint32
	ValueHash     uint64
	UnorderedHash uint64
	Occurrences   uint32
	Elements      uint32
	Raw           *string
}

// BodyDigest is digest.proto BodyDigest.
type BodyDigest struct {
	ContentType          string
	ContentEncoding      string
	WireSize             uint64
	DecodedSize          uint64
	Hash                 uint64
	Kind                 BodyKind
	Truncated            bool
	DecodeBudgetExceeded bool
	Error                string
	Fields               []FieldEntry
	FieldsTruncated      bool
}

// HeaderDigest is digest.proto HeaderDigest.
type HeaderDigest struct {
	Name      string
	ValueHash uint64
	Shape     Shape
	Raw       *string
}

// RequestFingerprint is digest.proto RequestFingerprint.
type RequestFingerprint struct {
	Method        string
	Path          string
	QueryHash     uint64
	BodyHash      uint64
	BodySize      uint64
	BodyTruncated bool
}

// Workload is digest.proto Workload. Its strings must be valid UTF-8 (the
// plugin makes them so once): the encoder does not check them.
type Workload struct {
	Name, Namespace, Version, Instance, PluginName string
}

// EndpointRef is digest.proto EndpointRef.
type EndpointRef struct {
	Method, RouteName, Path, Authority string
}

// ResponseDigest is digest.proto ResponseDigest.
type ResponseDigest struct {
	PairingKey            string
	Role                  Role
	Workload              Workload
	Endpoint              EndpointRef
	Request               RequestFingerprint
	Status                uint32
	Headers               []HeaderDigest
	Body                  *BodyDigest
	UpstreamLatencyMicros uint64
	StartUnixNanos        int64
	Shadow                bool
	Skip                  SkipReason
	TrailersHash          uint64
}

// DigestAck is collector.proto DigestAck.
type DigestAck struct {
	Sequence   uint64
	Accepted   uint32
	Rejections []Rejection
}

// Rejection is collector.proto Rejection.
type Rejection struct {
	Index  uint32
	Reason string
}
