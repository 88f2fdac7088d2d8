//go:build wasip1

package abi

// Memory the host fills is allocated by the guest (proxy_on_memory_allocate).
// Each buffer stays referenced here from allocation until the binding that
// asked for it takes it, so the Go collector cannot free it in between.
var allocations = map[uint32][]byte{}

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) uint32 {
	if size == 0 {
		size = 1
	}
	buf := make([]byte, size)
	addr := addressOf(buf)
	allocations[addr] = buf
	return addr
}

// take returns the host-filled buffer at addr and releases it to Go.
func take(addr, size uint32) []byte {
	if addr == 0 || size == 0 {
		return nil
	}
	buf, ok := allocations[addr]
	if !ok {
		return nil
	}
	delete(allocations, addr)
	return buf[:min(size, uint32(len(buf)))]
}
