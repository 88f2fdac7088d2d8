package store

import (
	"encoding/binary"
	"errors"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Names of the bbolt buckets.
var (
	bktPending = []byte("pending") // key\x00role -> arrival(8) + digest (before segments)
	// seq(8) -> bucket with the pending digests (see pending.go); seq(8) ->
	// bitmap of its closed digests
	bktPendingSegments = []byte("pending_segments")
	bktPendingClosed   = []byte("pending_closed")
	// time(8) of the oldest record + seq(8) -> records of one transaction;
	// pairing key -> segment key + offset (see records.go)
	bktRecordSegments = []byte("record_segments")
	bktRecordKeys     = []byte("record_keys")
	bktRecords        = []byte("records")        // key -> compact RequestRecord (earlier versions)
	bktRecordTime     = []byte("record_time")    // time(8) + key -> endpoint (earlier versions)
	bktFull           = []byte("full")           // key -> full RequestRecord (kept while sampled)
	bktSamples        = []byte("samples")        // sampleKey -> nothing
	bktAggregates     = []byte("aggregates")     // lp(endpoint) + start(8) -> Bucket (bucketcodec.go)
	bktNoiseRules     = []byte("noise_rules")    // id -> NoiseRule
	bktEndpointRules  = []byte("endpoint_rules") // id -> EndpointRule
	// method + " " + path pattern -> the learned EndpointRule a user deleted
	bktDeletedLearned = []byte("endpoint_rules_deleted")
	bktMeta           = []byte("meta")

	allBuckets = [][]byte{bktPending, bktPendingSegments, bktPendingClosed, bktRecordSegments, bktRecordKeys, bktRecords, bktRecordTime, bktFull, bktSamples, bktAggregates, bktNoiseRules, bktEndpointRules, bktDeletedLearned, bktMeta}
)

var errBadKey = errors.New("malformed key")

func pendingKey(key string, role shadowdiffv1.Role) []byte {
	b := make([]byte, 0, len(key)+2)
	b = append(b, key...)
	return append(b, 0, byte(role))
}

func putTime(b []byte, nano int64) []byte {
	// Offset so that negative times still sort before positive ones.
	return binary.BigEndian.AppendUint64(b, uint64(nano)^(1<<63))
}

func getTime(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// lp appends a length-prefixed string, so keys never depend on a separator
// that could occur in the string.
func lp(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// lpSize is the length of lp(nil, s).
func lpSize(s string) int { return protowire.SizeVarint(uint64(len(s))) + len(s) }

func readLP(b []byte) (string, []byte, error) {
	s, rest, ok := cutLP(b)
	if !ok {
		return "", nil, errBadKey
	}
	return string(s), rest, nil
}

// cutLP splits a length-prefixed byte string off b, without copying it.
func cutLP(b []byte) (s, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

func aggregateKey(endpoint string, startUnix int64) []byte {
	return putTime(lp(nil, endpoint), startUnix)
}

func sampleKey(r SampleRef) []byte {
	b := lp(lp(nil, r.Endpoint), r.Path)
	if r.Definite {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = putTime(b, r.TimeNano)
	return append(b, r.Key...)
}

func parseSampleKey(k []byte) (SampleRef, error) {
	var r SampleRef
	var err error
	if r.Endpoint, k, err = readLP(k); err != nil {
		return r, err
	}
	if r.Path, k, err = readLP(k); err != nil {
		return r, err
	}
	if len(k) < 9 {
		return r, errBadKey
	}
	r.Definite = k[0] == 1
	r.TimeNano = getTime(k[1:9])
	r.Key = string(k[9:])
	return r, nil
}

// PathHasPrefix reports whether path is prefix or one of its children:
// "body.a" covers "body.a", "body.a.b" and "body.a[]", not "body.ab".
// The empty prefix covers everything.
func PathHasPrefix(path, prefix string) bool {
	if prefix == "" {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	if len(path) == len(prefix) {
		return true
	}
	// A trailing backslash would escape the next character: no boundary.
	if strings.HasSuffix(prefix, "\\") && !strings.HasSuffix(prefix, "\\\\") {
		return false
	}
	switch path[len(prefix)] {
	case '.', '[':
		return true
	}
	return strings.HasSuffix(prefix, ".") || strings.HasSuffix(prefix, "[]")
}
