// Package freeport picks loopback TCP ports for servers that bind them
// later, often in another process (the harness sidecar, the collector, a
// browser driver).
//
// Asking the kernel for port 0 and closing the listener is not enough when
// tests run in parallel: the port goes back to the ephemeral range, and
// any other process's bind(0) or outgoing connection may take it before
// the server binds it. The ports here come from outside the ephemeral
// range, which the kernel never hands out on its own, so only another
// picker choosing the same random port in that short gap can collide.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
)

// lowest is the bottom of the ports picked from: above the well-known and
// most registered service ports.
const lowest = 20000

// tries bounds the random draws per port before giving up.
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
	low, high, err := outsideEphemeral(ephemeralRange(), n)
	if err != nil {
		return nil, err
	}
	return pick(n, low, high, free)
}

// pick draws n distinct ports from [low, high) that isFree accepts.
func pick(n, low, high int, isFree func(int) bool) ([]int, error) {
	out := make([]int, 0, n)
	for try := 0; len(out) < n; try++ {
		if try == tries*n {
			return nil, fmt.Errorf("freeport: %d of %d ports found in %d tries between %d and %d", len(out), n, try, low, high)
		}
		p := low + rand.IntN(high-low)
		if !slices.Contains(out, p) && isFree(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func free(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// outsideEphemeral returns a range of ports outside eph (the kernel's
// ephemeral range) with room for n: below it when it starts high enough,
// else above it.
func outsideEphemeral(eph [2]int, n int) (low, high int, err error) {
	room := max(4*n, 1000)
	if eph[0]-lowest >= room {
		return lowest, eph[0], nil
	}
	if 65536-(eph[1]+1) >= room {
		return max(eph[1]+1, lowest), 65536, nil
	}
	return 0, 0, fmt.Errorf("freeport: the ephemeral range %d-%d leaves no room for %d ports", eph[0], eph[1], n)
}

// ephemeralRange is the kernel's ephemeral port range, read from procfs
// on Linux; elsewhere the IANA range.
func ephemeralRange() [2]int {
	iana := [2]int{49152, 65535}
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return iana
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return iana
	}
	low, err1 := strconv.Atoi(f[0])
	high, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || low > high {
		return iana
	}
	return [2]int{low, high}
}
