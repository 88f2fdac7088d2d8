package server

// The strings of a digest are copied, never sliced from the received data
// (a pooled buffer, overwritten after the batch). Those that repeat from
// digest to digest come from the decoder's interner; the others are
// gathered and copied into one string per digest, which they slice.

// pendingString is a string field of the digest being decoded, set when
// the digest is done: dst (or, for an optional field, raw) receives the
// gathered bytes [from, to).
type pendingString struct {
	dst      *string
	raw      **string
	from, to int // in decoder.strs
}

// gather appends b to the digest's strings and returns where it is.
func (d *decoder) gather(b []byte) (from, to int) {
	from = len(d.strs)
	d.strs = append(d.strs, b...)
	return from, len(d.strs)
}

// keep sets *dst to a copy of b once the digest is done.
func (d *decoder) keep(dst *string, b []byte) {
	from, to := d.gather(b)
	d.pending = append(d.pending, pendingString{dst: dst, from: from, to: to})
}

// pendingPath is the path of the body field d.entries[entry]: a body has
// many, gathered without writing pointers.
type pendingPath struct{ entry, from, to int }

// keepPath sets the path of d.entries[i] to a copy of b once the digest
// is done.
func (d *decoder) keepPath(i int, b []byte) {
	from, to := d.gather(b)
	d.paths = append(d.paths, pendingPath{i, from, to})
}

// keepRaw sets *dst to a pointer to a copy of b once the digest is done.
func (d *decoder) keepRaw(dst **string, b []byte) {
	from, to := d.gather(b)
	d.pending = append(d.pending, pendingString{raw: dst, from: from, to: to})
}

// Slots of the strings keepShared shares: each remembers the string its
// field had in the digest before.
const (
	slotWorkloadName = iota
	slotWorkloadNamespace
	slotWorkloadVersion
	slotWorkloadInstance
	slotPluginName
	slotEndpointMethod
	slotRouteName
	slotAuthority
	slotRequestMethod
	slotContentType
	slotContentEncoding
	slotHeaders // the first header's name; the next ones follow
	numSlots    = slotHeaders + 16
)

// keepShared sets *dst to the interned b at once, or to a copy once the
// digest is done (keep) when the interner does not keep it. At once is
// safe as the plain form sends each field once (plainFields), so no later
// copy of the same field can come to overwrite it; and it saves a pending
// entry for most of a digest's strings (~2% of ingest).
//
// slot (numSlots or more for none) names the field: when b is what it was
// in the digest before, as it mostly is, the string is taken from there
// without hashing b (~2% of ingest).
func (d *decoder) keepShared(slot int, dst *string, b []byte) {
	if slot < numSlots && d.last[slot] == string(b) {
		*dst = d.last[slot]
		return
	}
	s, ok := d.names.intern(b)
	if !ok {
		d.keep(dst, b)
		return
	}
	*dst = s
	if slot < numSlots {
		d.last[slot] = s
	}
}

// dropPending forgets the digest's pending strings: set, or to be
// decoded again by the generated code.
func (d *decoder) dropPending() {
	d.strs, d.pending = d.strs[:0], d.pending[:0]
	d.entries, d.paths = nil, d.paths[:0]
}

// setStrings sets the digest's pending strings and paths, in the order
// they were read, from one copy of the gathered bytes; the optional ones
// point into one slice.
func (d *decoder) setStrings() {
	defer d.dropPending()
	all := string(d.strs)
	for _, p := range d.paths {
		d.entries[p.entry].Path = all[p.from:p.to]
	}
	raws := 0
	for i := range d.pending {
		if d.pending[i].raw != nil {
			raws++
		}
	}
	var slab []string
	if raws > 0 {
		slab = make([]string, raws)
	}
	for i := range d.pending {
		p := &d.pending[i]
		s := all[p.from:p.to]
		if p.raw != nil {
			slab[0] = s
			*p.raw = &slab[0]
			slab = slab[1:]
		} else {
			*p.dst = s
		}
	}
}
