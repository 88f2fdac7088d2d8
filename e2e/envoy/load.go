package envoy

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	// Every typed_config type the subset supports, so protojson resolves them.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	_ "google.golang.org/protobuf/types/known/wrapperspb"
)

// LoadFile reads and validates an Envoy bootstrap v3 YAML (or JSON) file.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read bootstrap: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes a bootstrap, validates it like Envoy (the API's
// ValidateAll, also inside every typed_config) and reduces it to the
// supported subset; anything outside the subset is an error naming its
// YAML path.
func Parse(data []byte) (*Config, error) {
	b, err := DecodeBootstrap(data)
	if err != nil {
		return nil, err
	}
	return convertBootstrap(b)
}

// DecodeBootstrap decodes and validates a bootstrap without reducing it to
// the subset.
func DecodeBootstrap(data []byte) (*bootstrapv3.Bootstrap, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var tree any
	if err := json.Unmarshal(js, &tree); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := checkJSON("", tree, b.ProtoReflect().Descriptor()); err != nil {
		return nil, err
	}
	if err := protojson.Unmarshal(js, b); err != nil {
		return nil, locateDecodeError(tree, b.ProtoReflect().Descriptor(), err)
	}
	if err := ValidateDeep(b); err != nil {
		return nil, err
	}
	return b, nil
}

type validator interface{ ValidateAll() error }

// ValidateDeep runs ValidateAll on m and on the message inside every Any it
// holds, recursively (ValidateAll itself does not descend into Any).
func ValidateDeep(m proto.Message) error {
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			return fmt.Errorf("validate %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
		}
	}
	return walkAnys("", m.ProtoReflect(), func(path string, a *anypb.Any) error {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return pathErrorf(path, "unmarshal %s: %w", a.GetTypeUrl(), err)
		}
		if err := ValidateDeep(inner); err != nil {
			return &PathError{Path: path, Err: err}
		}
		return nil
	})
}

// walkAnys calls fn for every Any directly reachable from m (not those
// nested inside another Any).
func walkAnys(path string, m protoreflect.Message, fn func(string, *anypb.Any) error) error {
	if a, ok := m.Interface().(*anypb.Any); ok {
		return fn(path, a)
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := field(path, string(fd.Name()))
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					err = walkAnys(fmt.Sprintf("%s[%q]", p, k.String()), mv.Message(), fn)
					return err == nil
				})
			}
		case fd.Message() == nil:
		case fd.IsList():
			for i := range v.List().Len() {
				if err = walkAnys(index(p, i), v.List().Get(i).Message(), fn); err != nil {
					break
				}
			}
		default:
			err = walkAnys(p, v.Message(), fn)
		}
		return err == nil
	})
	return err
}

// socketAddress converts a core Address holding a TCP socket_address.
func socketAddress(path string, a *corev3.Address) (string, error) {
	if err := onlyFields(path, a, "socket_address"); err != nil {
		return "", err
	}
	sa := a.GetSocketAddress()
	if sa == nil {
		return "", pathErrorf(path, "only socket_address is supported")
	}
	p := field(path, "socket_address")
	if err := onlyFields(p, sa, "address", "port_value", "protocol"); err != nil {
		return "", err
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return "", pathErrorf(field(p, "protocol"), "only TCP is supported")
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))), nil
}
