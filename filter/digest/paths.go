package digest

// maxCachedPaths bounds the path cache a BodyDigester keeps between
// documents: past it the cache is emptied before the next document, so a
// stream of bodies with ever-new member names keeps memory flat.
const maxCachedPaths = 8192

// pathNode is one generalised path seen by a digester. Nodes outlive a
// document: the path string is built once and every later document that
// has the path lists the same string.
type pathNode struct {
	path    string // FieldEntry.Path
	key     string // the member name, unescaped; "" for a "[]" node
	keyHash uint64 // FNV1a(key)
	parent  int32
	elem    int32 // the "[]" child, or -1
	// keyWord is the first 8 bytes of key (zero-padded), plain that key
	// needs no escaping in a string literal: together they let the parser
	// confirm a predicted member name with one compare.
	keyWord uint64
	plain   bool
	// first and next predict member names: the first member of the last
	// object at this path, and the member that followed this one.
	first, next int32
	// gen and field: the entry of this path in document gen, -1 if it is
	// not listed (MaxFields reached).
	gen   uint32
	field int32
	// raw is non-nil when raw values of this path may be sent: the
	// allowlist is asked once per path, not once per value.
	raw *string
}

// pathTable interns paths: member children are found by (parent, name hash)
// in one open-addressing index, array elements by pathNode.elem.
type pathTable struct {
	nodes []pathNode
	index []int32 // node+1 by hash; 0 is empty; len is a power of two
	buf   []byte  // builds new paths
	allow func(path string) bool
}

const noNode = -1

func (t *pathTable) len() int { return len(t.nodes) }

// reset forgets every path; memory is kept unless it grew past the bound.
func (t *pathTable) reset() {
	if cap(t.nodes) > 2*maxCachedPaths {
		t.nodes, t.index = nil, nil
	}
	t.nodes = t.nodes[:0]
	clear(t.index)
}

// root returns the node of the document itself (path "").
func (t *pathTable) root() int32 {
	if len(t.nodes) == 0 {
		t.add("", "", 0, noNode)
	}
	return 0
}

func slotHash(parent int32, keyHash uint64) uint64 {
	x := keyHash ^ uint64(parent)*0x9e3779b97f4a7c15
	return x ^ x>>29
}

// lookup returns the member child named key of parent, or noNode.
func (t *pathTable) lookup(parent int32, key []byte, keyHash uint64) int32 {
	if len(t.index) == 0 {
		return noNode
	}
	mask := uint64(len(t.index) - 1)
	for i := slotHash(parent, keyHash) & mask; ; i = (i + 1) & mask {
		n := t.index[i] - 1
		if n < 0 {
			return noNode
		}
		p := &t.nodes[n]
		if p.keyHash == keyHash && p.parent == parent && p.key == string(key) {
			return n
		}
	}
}

// addMember interns the member child named key of parent; it must not
// exist yet.
func (t *pathTable) addMember(parent int32, key []byte, keyHash uint64) int32 {
	pp := t.nodes[parent].path
	b := append(t.buf[:0], pp...)
	if len(pp) > 0 {
		b = append(b, '.')
	}
	b = appendEscapedKey(b, key)
	pathLen := len(b)
	b = append(b, key...)
	t.buf = b
	s := string(b) // one allocation holds the path and the name
	n := t.add(s[:pathLen], s[pathLen:], keyHash, parent)
	t.nodes[n].keyWord = wordSlow(key)
	t.nodes[n].plain = classOf(key)&cSpecial == 0
	if 2*len(t.nodes) > len(t.index) {
		t.grow()
	} else {
		t.insert(n)
	}
	return n
}

// element returns the "[]" child of parent, interning it if new.
func (t *pathTable) element(parent int32) int32 {
	if e := t.nodes[parent].elem; e >= 0 {
		return e
	}
	n := t.add(t.nodes[parent].path+"[]", "", 0, parent)
	t.nodes[parent].elem = n
	return n
}

func (t *pathTable) add(path, key string, keyHash uint64, parent int32) int32 {
	p := pathNode{path: path, key: key, keyHash: keyHash, parent: parent, elem: noNode, field: -1, first: noNode, next: noNode}
	if t.allow != nil && t.allow(path) {
		p.raw = new(string)
	}
	t.nodes = append(t.nodes, p)
	return int32(len(t.nodes) - 1)
}

func (t *pathTable) insert(n int32) {
	mask := uint64(len(t.index) - 1)
	i := slotHash(t.nodes[n].parent, t.nodes[n].keyHash) & mask
	for t.index[i] != 0 {
		i = (i + 1) & mask
	}
	t.index[i] = n + 1
}

// grow doubles the index and re-inserts every member node.
func (t *pathTable) grow() {
	size := max(64, 2*len(t.index))
	for size < 2*len(t.nodes) {
		size *= 2
	}
	t.index = make([]int32, size)
	for n := range t.nodes {
		if t.nodes[n].parent >= 0 && t.nodes[t.nodes[n].parent].elem != int32(n) {
			t.insert(int32(n))
		}
	}
}
