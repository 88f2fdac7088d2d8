package stack

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/shadowdiff/shadowdiff/e2e/freeport"
)

// A bootstrap's ports are its "port_value: N" lines, one per line; its
// Wasm modules the "filename: …filter.wasm" lines (envoy/local.yaml keeps
// to both, and envoy/'s tests check it).
var (
	portValue    = regexp.MustCompile(`(port_value:\s*)(\d+)`)
	wasmFilename = regexp.MustCompile(`(filename:\s*)\S*filter\.wasm`)
)

// BootstrapPorts returns the distinct ports of a bootstrap, in order.
func BootstrapPorts(bootstrap []byte) []int {
	var out []int
	for _, m := range portValue.FindAllSubmatch(bootstrap, -1) {
		p, _ := strconv.Atoi(string(m[2]))
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// FreePorts maps each of ports to fixed[p] when fixed has it, else to a
// distinct free port (e2e/freeport), so tests run beside each other and
// beside a demo.
func FreePorts(ports []int, fixed map[int]int) (map[int]int, error) {
	out := map[int]int{}
	var missing []int
	for _, p := range ports {
		if q, ok := fixed[p]; ok {
			out[p] = q
		} else {
			missing = append(missing, p)
		}
	}
	picked, err := freeport.PickN(len(missing))
	if err != nil {
		return nil, fmt.Errorf("find free ports: %w", err)
	}
	for i, p := range missing {
		out[p] = picked[i]
	}
	return out, nil
}

// Rewrite maps the ports of a bootstrap (those not in ports stay) and,
// when wasm is set, points its Wasm modules at that file.
func Rewrite(bootstrap []byte, ports map[int]int, wasm string) []byte {
	out := portValue.ReplaceAllFunc(bootstrap, func(m []byte) []byte {
		sub := portValue.FindSubmatch(m)
		p, _ := strconv.Atoi(string(sub[2]))
		if q, ok := ports[p]; ok {
			p = q
		}
		return []byte(string(sub[1]) + strconv.Itoa(p))
	})
	if wasm == "" {
		return out
	}
	return wasmFilename.ReplaceAll(out, []byte("${1}"+wasm))
}

// WasmFilenames counts the Wasm module file names Rewrite points elsewhere.
func WasmFilenames(bootstrap []byte) int { return len(wasmFilename.FindAll(bootstrap, -1)) }
