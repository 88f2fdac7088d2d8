// Package freeport picks loopback TCP ports for servers that bind them
// later, often in another process (the harness sidecar, the collector, a
// browser driver).
//
// Asking the kernel for port 0 and closing the listener is not enough when
// tests run in parallel: the port goes back to the ephemeral range, and
// any other process's bind(0) or outgoing connection may take it before
// the server binds it. The ports here come from below the ephemeral range,
// which the kernel never hands out on its own, so only another picker
// choosing the same random port in that short gap can collide.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the bottom of the range picked from: above the well-known and
// most registered service ports.
const lowest = 20000

// tries bounds the random draws before giving up.
const tries = 200

// Pick returns a loopback TCP port that was free a moment ago.
func Pick() (int, error) {
	ports, err := PickN(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// PickN returns n distinct loopback TCP ports that were free a moment ago.
func PickN(n int) ([]int, error) {
	high := ephemeralLow()
	if high-lowest < 4*n {
		return nil, fmt.Errorf("freeport: no room below the ephemeral range (starts at %d) for %d ports", high, n)
	}
	out := make([]int, 0, n)
	for try := 0; len(out) < n; try++ {
		if try == tries*n {
			return nil, fmt.Errorf("freeport: %d of %d ports found in %d tries between %d and %d", len(out), n, try, lowest, high)
		}
		p := lowest + rand.IntN(high-lowest)
		if contains(out, p) || !free(p) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

func contains(ports []int, p int) bool {
	for _, q := range ports {
		if q == p {
			return true
		}
	}
	return false
}

func free(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range, read
// from procfs on Linux; elsewhere, or when it is unusually low, the IANA
// default.
func ephemeralLow() int {
	const ianaDefault = 49152
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return ianaDefault
	}
	fields := strings.Fields(string(data))
	if len(fields) != 2 {
		return ianaDefault
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil || low <= lowest {
		return ianaDefault
	}
	return low
}
