// Command filter is the shadowdiff Proxy-Wasm plugin. Build it as a WASI
// reactor with the standard Go compiler:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o filter.wasm ./filter/cmd/filter
//
// Everything happens in the callbacks package abi exports; main never runs.
package main

import _ "github.com/shadowdiff/shadowdiff/filter/abi"

func main() {}
