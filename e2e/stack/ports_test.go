package stack

import (
	"strings"
	"testing"
)

const bootstrapSample = `admin: {address: {socket_address: {address: 127.0.0.1, port_value: 9901}}}
listeners:
- address: {socket_address: {port_value: 10000}}
  code: {local: {filename: bin/filter.wasm}}
- address: {socket_address: {port_value: 10000}}
clusters:
- endpoint: {port_value: 18001}
`

func TestBootstrapPortsFreePortsAndRewrite(t *testing.T) {
	ports := BootstrapPorts([]byte(bootstrapSample))
	if len(ports) != 3 || ports[0] != 9901 || ports[1] != 10000 || ports[2] != 18001 {
		t.Fatalf("ports %v, want [9901 10000 18001]", ports)
	}
	mapped, err := FreePorts(ports, map[int]int{18001: 41234})
	if err != nil {
		t.Fatal(err)
	}
	if mapped[18001] != 41234 || mapped[9901] == mapped[10000] || mapped[9901] == 9901 || mapped[10000] == 0 {
		t.Errorf("mapped %v: want 18001 kept at 41234 and two other distinct free ports", mapped)
	}
	out := string(Rewrite([]byte(bootstrapSample), map[int]int{10000: 20001}, "/abs/filter.wasm"))
	if strings.Count(out, "port_value: 20001") != 2 || !strings.Contains(out, "port_value: 9901") ||
		!strings.Contains(out, "filename: /abs/filter.wasm") || WasmFilenames([]byte(out)) != 1 {
		t.Errorf("rewritten:\n%s", out)
	}
}
