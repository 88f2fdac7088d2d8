package oci

import (
	"bytes"
	"debug/elf"
	"fmt"
)

// isStatic reports whether an ELF binary runs without a dynamic loader:
// no PT_INTERP program header and no needed shared libraries.
func isStatic(b []byte) (bool, error) {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return false, fmt.Errorf("read ELF: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return false, fmt.Errorf("read ELF: %w", err)
	}
	return len(libs) == 0, nil
}
