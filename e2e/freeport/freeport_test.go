package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPickNReturnsDistinctBindablePortsBelowTheEphemeralRange(t *testing.T) {
	ports, err := PickN(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Errorf("port %d picked twice", p)
		}
		seen[p] = true
		if p < lowest || p >= ephemeralLow() {
			t.Errorf("port %d outside [%d, %d)", p, lowest, ephemeralLow())
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d: %v", p, err)
			continue
		}
		l.Close()
	}
}

func TestPickSkipsPortsInUse(t *testing.T) {
	// Bind the first 2,000 ports of the range; none of them may be picked.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	busy := map[int]bool{}
	for p := lowest; p < lowest+2000; p++ {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		held = append(held, l)
		busy[p] = true
	}
	for range 200 {
		p, err := Pick()
		if err != nil {
			t.Fatal(err)
		}
		if busy[p] {
			t.Fatalf("picked %d, which is bound", p)
		}
	}
}
