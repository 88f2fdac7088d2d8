//go:build wasip1

package abi

// memory backs proxy_on_memory_allocate (see arena).
var memory = newArena(64<<10, 1<<20)

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) uint32 { return uint32(memory.alloc(size)) }

// take returns the host-filled block at addr.
func take(addr, size uint32) []byte { return memory.take(uintptr(addr), size) }

func enter() { memory.enter() }
func leave() { memory.leave() }
