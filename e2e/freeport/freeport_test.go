package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPickNReturnsDistinctBindablePortsOutsideTheEphemeralRange(t *testing.T) {
	ports, err := PickN(20)
	if err != nil {
		t.Fatal(err)
	}
	eph := ephemeralRange()
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Errorf("port %d picked twice", p)
		}
		seen[p] = true
		if p >= eph[0] && p <= eph[1] {
			t.Errorf("port %d is in the ephemeral range %v", p, eph)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d: %v", p, err)
			continue
		}
		l.Close()
	}
}

// Ports the probe refuses are never returned; with too few left, an error.
func TestPickSkipsPortsInUse(t *testing.T) {
	freeTens := func(p int) bool { return p%10 == 0 } // only multiples of 10 are free
	ports, err := pick(50, 30000, 31000, freeTens)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if p%10 != 0 || p < 30000 || p >= 31000 {
			t.Errorf("picked %d", p)
		}
	}
	if _, err := pick(3, 30000, 30010, freeTens); err == nil {
		t.Error("3 ports from a range with one free: no error")
	}
}

func TestOutsideEphemeral(t *testing.T) {
	for _, c := range []struct {
		eph       [2]int
		low, high int
		fails     bool
	}{
		{[2]int{32768, 60999}, lowest, 32768, false}, // Linux default: below
		{[2]int{49152, 65535}, lowest, 49152, false}, // IANA: below
		{[2]int{1024, 32767}, 32768, 65536, false},   // low range: above
		{[2]int{1024, 65000}, 0, 0, true},            // no room either side
	} {
		low, high, err := outsideEphemeral(c.eph, 10)
		if (err != nil) != c.fails || low != c.low || high != c.high {
			t.Errorf("ephemeral %v: [%d, %d) %v; want [%d, %d), fails %v", c.eph, low, high, err, c.low, c.high, c.fails)
		}
	}
}
