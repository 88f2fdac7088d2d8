package proxywasm

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// protoMap and protoList are map and repeated fields of a message being
// walked.
type protoMap struct {
	m  protoreflect.Map
	fd protoreflect.FieldDescriptor
}

type protoList struct {
	l  protoreflect.List
	fd protoreflect.FieldDescriptor
}

// walkProperty takes one path step: a key in a map, a field of a message,
// an index in a list.
func walkProperty(val any, seg string) (any, bool) {
	switch x := val.(type) {
	case *httpfilter.Headers:
		var vals []string
		name := strings.ToLower(seg)
		for _, f := range x.Fields {
			if f.Name == name {
				vals = append(vals, f.Value)
			}
		}
		return strings.Join(vals, ","), len(vals) > 0
	case map[string][]byte:
		b, ok := x[seg]
		return b, ok
	case map[string]string:
		s, ok := x[seg]
		return s, ok
	case *structpb.Struct:
		f, ok := x.GetFields()[seg]
		if !ok {
			return nil, false
		}
		return unwrapValue(f), true
	case *structpb.ListValue:
		i, err := strconv.Atoi(seg)
		if err != nil || i < 0 || i >= len(x.GetValues()) {
			return nil, false
		}
		return unwrapValue(x.GetValues()[i]), true
	case protoMap:
		if x.fd.MapKey().Kind() != protoreflect.StringKind {
			return nil, false
		}
		mv := x.m.Get(protoreflect.ValueOfString(seg).MapKey())
		if !mv.IsValid() {
			return nil, false
		}
		return fromProto(x.fd.MapValue(), mv), true
	case protoList:
		i, err := strconv.Atoi(seg)
		if err != nil || i < 0 || i >= x.l.Len() {
			return nil, false
		}
		return fromProto(x.fd, x.l.Get(i)), true
	case proto.Message:
		m := x.ProtoReflect()
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(seg))
		if fd == nil {
			return nil, false
		}
		switch {
		case fd.IsMap():
			return protoMap{m.Get(fd).Map(), fd}, true
		case fd.IsList():
			return protoList{m.Get(fd).List(), fd}, true
		}
		return fromProto(fd, m.Get(fd)), true
	}
	return nil, false
}

// fromProto converts a field value to the Go value serialized for it.
func fromProto(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		msg := v.Message().Interface()
		switch m := msg.(type) {
		case *timestamppb.Timestamp:
			return m.AsTime()
		case *durationpb.Duration:
			return m.AsDuration()
		case *structpb.Value:
			return unwrapValue(m)
		}
		return msg
	case protoreflect.StringKind:
		return v.String()
	case protoreflect.BytesKind:
		return v.Bytes()
	case protoreflect.BoolKind:
		return v.Bool()
	case protoreflect.EnumKind:
		return int64(v.Enum())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return v.Uint()
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float()
	}
	return nil
}

// unwrapValue turns a google.protobuf.Value into its CEL value.
func unwrapValue(v *structpb.Value) any {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_NumberValue:
		return k.NumberValue
	case *structpb.Value_BoolValue:
		return k.BoolValue
	case *structpb.Value_StructValue:
		return k.StructValue
	case *structpb.Value_ListValue:
		return k.ListValue
	}
	return nil
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// serializeProperty encodes a value as Envoy's serializeValue: strings and
// bytes raw, numbers as 8 bytes LE, bool as 1 byte, durations and
// timestamps as int64 nanoseconds, messages as protobuf, maps as serialized
// pairs and lists as pairs with empty values.
func serializeProperty(val any) ([]byte, bool) {
	switch x := val.(type) {
	case nil:
		return nil, true
	case string:
		return []byte(x), true
	case []byte:
		return x, true
	case int64:
		return le64(uint64(x)), true
	case uint64:
		return le64(x), true
	case float64:
		return le64(math.Float64bits(x)), true
	case bool:
		if x {
			return []byte{1}, true
		}
		return []byte{0}, true
	case time.Duration:
		return le64(uint64(x.Nanoseconds())), true
	case time.Time:
		return le64(uint64(x.UnixNano())), true
	case *httpfilter.Headers:
		var fields []httpfilter.Header
		seen := map[string]bool{}
		for _, f := range x.Fields {
			if !seen[f.Name] {
				seen[f.Name] = true
				joined, _ := walkProperty(x, f.Name)
				fields = append(fields, httpfilter.Header{Name: f.Name, Value: joined.(string)})
			}
		}
		return serializePairs(fields), true
	case map[string][]byte:
		return serializeSorted(slices.Sorted(maps.Keys(x)), func(k string) any { return x[k] })
	case map[string]string:
		return serializeSorted(slices.Sorted(maps.Keys(x)), func(k string) any { return x[k] })
	case *structpb.Struct:
		return serializeSorted(slices.Sorted(maps.Keys(x.GetFields())), func(k string) any {
			return unwrapValue(x.GetFields()[k])
		})
	case *structpb.ListValue:
		return serializeList(len(x.GetValues()), func(i int) any { return unwrapValue(x.GetValues()[i]) })
	case protoList:
		return serializeList(x.l.Len(), func(i int) any { return fromProto(x.fd, x.l.Get(i)) })
	case protoMap:
		var keys []string
		x.m.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k.String())
			return true
		})
		slices.Sort(keys)
		return serializeSorted(keys, func(k string) any {
			return fromProto(x.fd.MapValue(), x.m.Get(protoreflect.ValueOfString(k).MapKey()))
		})
	case proto.Message:
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(x)
		return b, err == nil
	}
	return nil, false
}

func serializeSorted(keys []string, value func(string) any) ([]byte, bool) {
	fields := make([]httpfilter.Header, 0, len(keys))
	for _, k := range keys {
		b, ok := serializeProperty(value(k))
		if !ok {
			return nil, false
		}
		fields = append(fields, httpfilter.Header{Name: k, Value: string(b)})
	}
	return serializePairs(fields), true
}

func serializeList(n int, elem func(int) any) ([]byte, bool) {
	fields := make([]httpfilter.Header, 0, n)
	for i := range n {
		b, ok := serializeProperty(elem(i))
		if !ok {
			return nil, false
		}
		fields = append(fields, httpfilter.Header{Name: string(b)})
	}
	return serializePairs(fields), true
}
