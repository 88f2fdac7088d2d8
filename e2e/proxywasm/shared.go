package proxywasm

import (
	"context"
	"sync"

	"github.com/tetratelabs/wazero/api"
)

// sharedStore holds shared data and shared queues, scoped by vm_id and
// shared by every VM of every plugin of a runtime with that vm_id (CPPHOST
// keeps them process-wide, keyed by vm_id).
type sharedStore struct {
	mu     sync.Mutex
	data   map[string]map[string]*sharedValue
	cas    uint32
	tokens map[queueKey]uint32
	queues map[uint32]*sharedQueue
	nextQ  uint32
}

type sharedValue struct {
	value []byte
	cas   uint32
}

type queueKey struct{ vmID, name string }

type sharedQueue struct {
	key   queueKey
	items [][]byte
	// owner is the VM whose root context registered the queue last; it gets
	// proxy_on_queue_ready.
	owner *vm
}

func newSharedStore() *sharedStore {
	return &sharedStore{
		data:   map[string]map[string]*sharedValue{},
		cas:    1,
		tokens: map[queueKey]uint32{},
		queues: map[uint32]*sharedQueue{},
		nextQ:  1,
	}
}

func (s *sharedStore) nextCas() uint32 {
	c := s.cas
	s.cas++
	if s.cas == 0 {
		s.cas = 1
	}
	return c
}

func (s *sharedStore) get(vmID, key string) (sharedValue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[vmID][key]
	if !ok {
		return sharedValue{}, false
	}
	return *v, true
}

func (s *sharedStore) set(vmID, key string, value []byte, cas uint32) status {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.data[vmID]
	if m == nil {
		m = map[string]*sharedValue{}
		s.data[vmID] = m
	}
	if cur, ok := m[key]; ok && cas != 0 && cas != cur.cas {
		return statusCasMismatch
	}
	m[key] = &sharedValue{value: value, cas: s.nextCas()}
	return statusOK
}

func (s *sharedStore) register(vmID, name string, owner *vm) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := queueKey{vmID, name}
	token, ok := s.tokens[k]
	if !ok {
		token = s.nextQ
		s.nextQ++
		s.tokens[k] = token
		s.queues[token] = &sharedQueue{key: k}
	}
	s.queues[token].owner = owner
	return token
}

func (s *sharedStore) resolve(vmID, name string) (uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[queueKey{vmID, name}]
	return t, ok
}

func (s *sharedStore) enqueue(token uint32, value []byte) (*vm, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[token]
	if q == nil {
		return nil, false
	}
	q.items = append(q.items, value)
	return q.owner, true
}

func (s *sharedStore) dequeue(token uint32) ([]byte, status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[token]
	if q == nil {
		return nil, statusNotFound
	}
	if len(q.items) == 0 {
		return nil, statusEmpty
	}
	item := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	return item, statusOK
}

// forgetPlugin drops queue owners of a closed plugin so that nothing is
// delivered to its VMs; the queues and their items stay for other VMs.
func (s *sharedStore) forgetPlugin(p *Plugin) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queues {
		if q.owner != nil && q.owner.p == p {
			q.owner = nil
		}
	}
}

func sharedFuncs() []hostFunc {
	return []hostFunc{
		{name: "proxy_get_shared_data", params: i32s(5), fn: proxyGetSharedData},
		{name: "proxy_set_shared_data", params: i32s(5), fn: proxySetSharedData},
		{name: "proxy_register_shared_queue", params: i32s(3), fn: proxyRegisterSharedQueue},
		{name: "proxy_resolve_shared_queue", params: i32s(5), fn: proxyResolveSharedQueue},
		{name: "proxy_enqueue_shared_queue", params: i32s(3), fn: proxyEnqueueSharedQueue},
		{name: "proxy_dequeue_shared_queue", params: i32s(3), fn: proxyDequeueSharedQueue},
	}
}

func proxyGetSharedData(ctx context.Context, v *vm, mod api.Module, p []uint64) status {
	key, ok := readString(mod, uint32(p[0]), uint32(p[1]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	val, found := v.p.r.shared.get(v.p.cfg.VMID, key)
	if !found {
		return statusNotFound
	}
	if !writeU32(mod, uint32(p[4]), val.cas) {
		return statusInvalidMemoryAccess
	}
	return v.copyOut(ctx, mod, val.value, uint32(p[2]), uint32(p[3]))
}

func proxySetSharedData(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	key, ok1 := readString(mod, uint32(p[0]), uint32(p[1]))
	val, ok2 := readBytes(mod, uint32(p[2]), uint32(p[3]))
	if !ok1 || !ok2 {
		return statusInvalidMemoryAccess
	}
	return v.p.r.shared.set(v.p.cfg.VMID, key, val, uint32(p[4]))
}

func proxyRegisterSharedQueue(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	name, ok := readString(mod, uint32(p[0]), uint32(p[1]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	token := v.p.r.shared.register(v.p.cfg.VMID, name, v)
	if !writeU32(mod, uint32(p[2]), token) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

func proxyResolveSharedQueue(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	vmID, ok1 := readString(mod, uint32(p[0]), uint32(p[1]))
	name, ok2 := readString(mod, uint32(p[2]), uint32(p[3]))
	if !ok1 || !ok2 {
		return statusInvalidMemoryAccess
	}
	token, found := v.p.r.shared.resolve(vmID, name)
	if !found {
		return statusNotFound
	}
	if !writeU32(mod, uint32(p[4]), token) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

// proxyEnqueueSharedQueue appends an item and posts proxy_on_queue_ready to
// the registering VM's root context.
func proxyEnqueueSharedQueue(_ context.Context, v *vm, mod api.Module, p []uint64) status {
	token := uint32(p[0])
	val, ok := readBytes(mod, uint32(p[1]), uint32(p[2]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	owner, found := v.p.r.shared.enqueue(token, val)
	if !found {
		return statusNotFound
	}
	if owner != nil {
		owner.runAsync(func(fr *frame) {
			if owner.fns.onQueueReady != nil {
				_, _ = owner.call(fr, owner.fns.onQueueReady, uint64(owner.rootID), uint64(token))
			}
		})
	}
	return statusOK
}

func proxyDequeueSharedQueue(ctx context.Context, v *vm, mod api.Module, p []uint64) status {
	item, st := v.p.r.shared.dequeue(uint32(p[0]))
	if st != statusOK {
		return st
	}
	return v.copyOut(ctx, mod, item, uint32(p[1]), uint32(p[2]))
}
