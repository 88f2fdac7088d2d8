package abi

import "fmt"

// status is a proxy_status_t.
type status uint32

const (
	statusOK       status = 0
	statusNotFound status = 1
)

var statusNames = map[status]string{
	0: "OK", 1: "NOT_FOUND", 2: "BAD_ARGUMENT", 3: "SERIALIZATION_FAILURE", 4: "PARSE_FAILURE",
	6: "INVALID_MEMORY_ACCESS", 7: "EMPTY", 8: "CAS_MISMATCH", 10: "INTERNAL_FAILURE", 12: "UNIMPLEMENTED",
}

func (s status) Error() string {
	if n, ok := statusNames[s]; ok {
		return "proxy status " + n
	}
	return fmt.Sprintf("proxy status %d", uint32(s))
}

// check turns a host return code into an error.
func check(code uint32) error {
	if status(code) == statusOK {
		return nil
	}
	return status(code)
}
