package proxywasm

// A tiny WebAssembly binary writer for modules the Go toolchain cannot
// produce: bad imports, missing exports, other ABI markers.

const (
	wI32 = 0x7f
	wI64 = 0x7e
)

type wasmImport struct {
	module, name    string
	params, results []byte
}

type wasmFunc struct {
	name            string
	params, results []byte
	body            []byte // instructions, without the final end
}

func leb(n int) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

// sleb is the signed LEB128 encoding of an i64.const immediate.
func sleb(n int64) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if (n == 0 && b&0x40 == 0) || (n == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

func wname(s string) []byte { return append(leb(len(s)), s...) }

func section(id byte, count int, body []byte) []byte {
	content := append(leb(count), body...)
	return append(append([]byte{id}, leb(len(content))...), content...)
}

func functype(params, results []byte) []byte {
	out := append([]byte{0x60}, leb(len(params))...)
	out = append(out, params...)
	out = append(out, leb(len(results))...)
	return append(out, results...)
}

// buildWasm writes a module with the imports, the exported functions and,
// if memory is set, one exported page of memory named "memory".
func buildWasm(imports []wasmImport, funcs []wasmFunc, memory bool) []byte {
	out := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	var types, imps, fnsec, exps, code []byte
	nTypes := 0
	for _, im := range imports {
		types = append(types, functype(im.params, im.results)...)
		imps = append(imps, wname(im.module)...)
		imps = append(imps, wname(im.name)...)
		imps = append(imps, 0x00)
		imps = append(imps, leb(nTypes)...)
		nTypes++
	}
	nExports := 0
	for i, f := range funcs {
		types = append(types, functype(f.params, f.results)...)
		fnsec = append(fnsec, leb(nTypes)...)
		nTypes++
		exps = append(exps, wname(f.name)...)
		exps = append(exps, 0x00)
		exps = append(exps, leb(len(imports)+i)...)
		nExports++
		body := append([]byte{0x00}, f.body...) // no locals
		body = append(body, 0x0b)
		code = append(code, leb(len(body))...)
		code = append(code, body...)
	}
	if memory {
		exps = append(exps, wname("memory")...)
		exps = append(exps, 0x02, 0x00)
		nExports++
	}
	out = append(out, section(1, nTypes, types)...)
	if len(imports) > 0 {
		out = append(out, section(2, len(imports), imps)...)
	}
	out = append(out, section(3, len(funcs), fnsec)...)
	if memory {
		out = append(out, section(5, 1, []byte{0x00, 0x01})...)
	}
	out = append(out, section(7, nExports, exps)...)
	out = append(out, section(10, len(funcs), code)...)
	return out
}

// minimalFuncs are the exports of the smallest loadable plugin: an ABI
// marker and an allocator that always answers 1024.
func minimalFuncs(marker string) []wasmFunc {
	return []wasmFunc{
		{name: marker},
		{name: "proxy_on_memory_allocate", params: []byte{wI32}, results: []byte{wI32}, body: []byte{0x41, 0x80, 0x08}},
	}
}
