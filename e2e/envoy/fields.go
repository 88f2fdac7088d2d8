package envoy

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// PathError is a configuration error at a YAML path such as
// "static_resources.listeners[0].filter_chains[0].filters[0]".
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string { return e.Path + ": " + e.Err.Error() }

func (e *PathError) Unwrap() error { return e.Err }

func pathErrorf(path, format string, args ...any) error {
	return &PathError{Path: path, Err: fmt.Errorf(format, args...)}
}

func field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// onlyFields rejects every populated field of m that is not in allowed
// (proto field names): the harness never ignores configuration silently.
func onlyFields(path string, m proto.Message, allowed ...string) error {
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !r.Has(fd) {
			continue
		}
		name := string(fd.Name())
		found := false
		for _, a := range allowed {
			if a == name {
				found = true
				break
			}
		}
		if !found {
			return pathErrorf(field(path, name), "field not supported by the harness (supported here: %s)",
				strings.Join(allowed, ", "))
		}
	}
	return nil
}

var errUnknownField = errors.New("unknown field")

// protojsonPosition is the "proto: (line 1:157): " prefix of protojson
// errors, whose position in the generated JSON means nothing to a YAML user.
var protojsonPosition = regexp.MustCompile(`^proto:\s*(\(line \d+:\d+\):\s*)?`)

// checkJSON walks the JSON form of a message along its descriptor and
// reports the YAML path of the first unknown field or unresolvable Any type,
// which protojson would report without a path.
func checkJSON(path string, v any, md protoreflect.MessageDescriptor) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil // protojson reports type mismatches itself
	}
	switch md.FullName() {
	case "google.protobuf.Any":
		url, _ := obj["@type"].(string)
		mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
		if err != nil {
			return pathErrorf(path, "typed_config type %q is not supported by the harness", url)
		}
		inner := mt.Descriptor()
		if isWellKnown(inner.FullName()) {
			return nil
		}
		rest := make(map[string]any, len(obj))
		for k, val := range obj {
			if k != "@type" {
				rest[k] = val
			}
		}
		return checkJSON(path, rest, inner)
	}
	if isWellKnown(md.FullName()) {
		return nil
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fields := md.Fields()
	for _, k := range keys {
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByTextName(k)
		}
		if fd == nil {
			return &PathError{Path: field(path, k), Err: errUnknownField}
		}
		if err := checkValue(field(path, k), obj[k], fd); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(path string, v any, fd protoreflect.FieldDescriptor) error {
	switch {
	case fd.IsMap():
		m, _ := v.(map[string]any)
		if fd.MapValue().Message() == nil {
			return nil
		}
		for k, val := range m {
			if err := checkJSON(fmt.Sprintf("%s[%q]", path, k), val, fd.MapValue().Message()); err != nil {
				return err
			}
		}
	case fd.Message() == nil:
		return nil
	case fd.IsList():
		list, _ := v.([]any)
		for i, val := range list {
			if err := checkJSON(index(path, i), val, fd.Message()); err != nil {
				return err
			}
		}
	default:
		return checkJSON(path, v, fd.Message())
	}
	return nil
}

// isWellKnown reports messages with a special JSON form (protojson checks them).
func isWellKnown(name protoreflect.FullName) bool {
	return strings.HasPrefix(string(name), "google.protobuf.") && name != "google.protobuf.Any"
}

// locateDecodeError finds the deepest message of the JSON tree that
// protojson refuses (a bad value, a oneof set twice) and names its YAML
// path, with protojson's message about that message alone.
func locateDecodeError(tree any, md protoreflect.MessageDescriptor, err error) error {
	path, sub := "", tree
	for {
		childPath, child, childMD, childErr := failingChild(path, sub, md)
		if childErr == nil {
			return &PathError{Path: path, Err: errors.New(protojsonPosition.ReplaceAllString(err.Error(), ""))}
		}
		path, sub, md, err = childPath, child, childMD, childErr
	}
}

// failingChild returns the first child message of v (of type md) that
// fails to decode on its own.
func failingChild(path string, v any, md protoreflect.MessageDescriptor) (string, any, protoreflect.MessageDescriptor, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return "", nil, nil, nil
	}
	if md.FullName() == "google.protobuf.Any" {
		url, _ := obj["@type"].(string)
		mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
		if err != nil || isWellKnown(mt.Descriptor().FullName()) {
			return "", nil, nil, nil
		}
		rest := make(map[string]any, len(obj))
		for k, val := range obj {
			if k != "@type" {
				rest[k] = val
			}
		}
		if err := decodeAs(rest, mt.Descriptor()); err != nil {
			return path, rest, mt.Descriptor(), err
		}
		return "", nil, nil, nil
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fields := md.Fields()
	for _, k := range keys {
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByTextName(k)
		}
		if fd == nil || fd.IsMap() || fd.Message() == nil || isWellKnown(fd.Message().FullName()) {
			continue
		}
		p := field(path, k)
		if fd.IsList() {
			list, _ := obj[k].([]any)
			for i, el := range list {
				if err := decodeAs(el, fd.Message()); err != nil {
					return index(p, i), el, fd.Message(), err
				}
			}
			continue
		}
		if err := decodeAs(obj[k], fd.Message()); err != nil {
			return p, obj[k], fd.Message(), err
		}
	}
	return "", nil, nil, nil
}

func decodeAs(v any, md protoreflect.MessageDescriptor) error {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err != nil {
		return nil
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return protojson.Unmarshal(js, mt.New().Interface())
}
