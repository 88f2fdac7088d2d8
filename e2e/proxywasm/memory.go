package proxywasm

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// errGuestAllocator is returned when the guest allocator fails or returns 0.
var errGuestAllocator = errors.New("proxywasm: guest allocator returned no memory")

// readBytes copies size bytes at ptr out of guest memory. A zero size is
// valid at any pointer and yields nil.
func readBytes(mod api.Module, ptr, size uint32) ([]byte, bool) {
	if size == 0 {
		return nil, true
	}
	view, ok := mod.Memory().Read(ptr, size)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), view...), true
}

// readString copies a string out of guest memory.
func readString(mod api.Module, ptr, size uint32) (string, bool) {
	if size == 0 {
		return "", true
	}
	view, ok := mod.Memory().Read(ptr, size)
	if !ok {
		return "", false
	}
	return string(view), true
}

// writeU32 writes a little-endian uint32 at ptr.
func writeU32(mod api.Module, ptr, v uint32) bool {
	return mod.Memory().WriteUint32Le(ptr, v)
}

// writeU64 writes a little-endian uint64 at ptr.
func writeU64(mod api.Module, ptr uint32, v uint64) bool {
	return mod.Memory().WriteUint64Le(ptr, v)
}

// allocate calls the guest allocator re-entrantly (from inside a host
// function) and returns the address of size fresh bytes. The allocator may
// call only what proxy-wasm-cpp-host's allocMemory allows.
func (v *vm) allocate(ctx context.Context, size uint32) (uint32, error) {
	prev, prevGuest := v.restriction, v.guest
	v.restriction = v.p.r.allocRestriction
	if v.p.r.opts.HostCallObserver != nil {
		v.guest = funcName(v.fns.alloc)
	}
	defer func() { v.restriction, v.guest = prev, prevGuest }()
	stack := []uint64{uint64(size)}
	if err := v.fns.alloc.CallWithStack(ctx, stack); err != nil {
		return 0, fmt.Errorf("proxywasm: guest allocator: %w", err)
	}
	ptr := uint32(stack[0])
	if ptr == 0 {
		return 0, errGuestAllocator
	}
	return ptr, nil
}

// copyOut returns data to the guest the way proxy-wasm-cpp-host does: the
// bytes go into memory obtained from the guest allocator, and the address
// and size are written to *retPtr and *retSize. An empty value is returned
// as ptr 0, size 0 without allocating.
func (v *vm) copyOut(ctx context.Context, mod api.Module, data []byte, retPtr, retSize uint32) status {
	if len(data) == 0 {
		if !writeU32(mod, retPtr, 0) || !writeU32(mod, retSize, 0) {
			return statusInvalidMemoryAccess
		}
		return statusOK
	}
	ptr, err := v.allocate(ctx, uint32(len(data)))
	if err != nil {
		if errors.Is(err, errGuestAllocator) {
			return statusInvalidMemoryAccess
		}
		// A trap inside the allocator is a trap of the calling callback.
		panic(err)
	}
	mem := mod.Memory()
	if !mem.Write(ptr, data) || !mem.WriteUint32Le(retPtr, ptr) || !mem.WriteUint32Le(retSize, uint32(len(data))) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}
