package envoy

import (
	"sort"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// wasmRuntimes are the runtimes Envoy knows; the harness runs all of them
// on wazero. The null runtime (native plugins) cannot run here.
var wasmRuntimes = map[string]bool{
	"":                            true,
	"envoy.wasm.runtime.v8":       true,
	"envoy.wasm.runtime.wamr":     true,
	"envoy.wasm.runtime.wasmtime": true,
	"envoy.wasm.runtime.wavm":     true,
}

func convertWasm(path string, w *wasmfilterv3.Wasm) (*WasmConfig, error) {
	tc := field(path, "typed_config")
	if err := onlyFields(tc, w, "config"); err != nil {
		return nil, err
	}
	pc := w.GetConfig()
	if pc == nil {
		return nil, pathErrorf(field(tc, "config"), "required")
	}
	cp := field(tc, "config")
	if err := onlyFields(cp, pc, "name", "root_id", "vm_config", "configuration", "fail_open", "failure_policy"); err != nil {
		return nil, err
	}
	out := &WasmConfig{Path: path, Name: pc.GetName(), RootID: pc.GetRootId(), Env: map[string]string{}}
	switch pc.GetFailurePolicy() {
	case wasmv3.FailurePolicy_UNSPECIFIED:
		out.FailOpen = pc.GetFailOpen()
	case wasmv3.FailurePolicy_FAIL_OPEN:
		out.FailOpen = true
	case wasmv3.FailurePolicy_FAIL_CLOSED:
	default:
		return nil, pathErrorf(field(cp, "failure_policy"), "%s is not supported (FAIL_OPEN, FAIL_CLOSED)", pc.GetFailurePolicy())
	}
	var err error
	if out.Configuration, err = stringOrBytes(field(cp, "configuration"), pc.GetConfiguration()); err != nil {
		return nil, err
	}
	vm := pc.GetVmConfig()
	vp := field(cp, "vm_config")
	if vm == nil {
		return nil, pathErrorf(vp, "required (vm_config.code.local)")
	}
	if err := onlyFields(vp, vm, "vm_id", "runtime", "code", "configuration", "environment_variables"); err != nil {
		return nil, err
	}
	if !wasmRuntimes[vm.GetRuntime()] {
		return nil, pathErrorf(field(vp, "runtime"), "runtime %q is not supported", vm.GetRuntime())
	}
	out.VMID, out.Runtime = vm.GetVmId(), vm.GetRuntime()
	if out.VMConfiguration, err = stringOrBytes(field(vp, "configuration"), vm.GetConfiguration()); err != nil {
		return nil, err
	}
	if err := convertCode(field(vp, "code"), vm.GetCode(), out); err != nil {
		return nil, err
	}
	if ev := vm.GetEnvironmentVariables(); ev != nil {
		for k, v := range ev.GetKeyValues() {
			out.Env[k] = v
		}
		out.HostEnvKeys = append(out.HostEnvKeys, ev.GetHostEnvKeys()...)
		sort.Strings(out.HostEnvKeys)
	}
	return out, nil
}

func convertCode(path string, code *corev3.AsyncDataSource, out *WasmConfig) error {
	if code == nil {
		return pathErrorf(path, "required")
	}
	if err := onlyFields(path, code, "local"); err != nil {
		return err
	}
	lp := field(path, "local")
	local := code.GetLocal()
	if err := onlyFields(lp, local, "filename", "inline_bytes", "inline_string"); err != nil {
		return err
	}
	switch s := local.GetSpecifier().(type) {
	case *corev3.DataSource_Filename:
		out.CodeFile = s.Filename
	case *corev3.DataSource_InlineBytes:
		out.Code = s.InlineBytes
	case *corev3.DataSource_InlineString:
		out.Code = []byte(s.InlineString)
	default:
		return pathErrorf(lp, "one of filename, inline_bytes, inline_string is required")
	}
	return nil
}

// stringOrBytes returns the payload of a StringValue or BytesValue Any, the
// forms Envoy passes to a plugin as raw bytes.
func stringOrBytes(path string, a *anypb.Any) ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	var s wrapperspb.StringValue
	if a.MessageIs(&s) {
		if err := a.UnmarshalTo(&s); err != nil {
			return nil, pathErrorf(path, "%w", err)
		}
		return []byte(s.GetValue()), nil
	}
	var b wrapperspb.BytesValue
	if a.MessageIs(&b) {
		if err := a.UnmarshalTo(&b); err != nil {
			return nil, pathErrorf(path, "%w", err)
		}
		return b.GetValue(), nil
	}
	return nil, pathErrorf(path, "type %s is not supported (google.protobuf.StringValue or BytesValue)", a.GetTypeUrl())
}
