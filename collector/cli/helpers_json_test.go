package cli

import (
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func unmarshalJSON(s string, m proto.Message) error {
	return protojson.Unmarshal([]byte(s), m)
}
