//go:build race

package main

// raceEnabled: wazero's compiler under the race detector takes minutes to
// compile filter.wasm, so the test with the real module is skipped then.
const raceEnabled = true
