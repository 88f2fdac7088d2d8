// Package bench measures the whole shadowdiff pipeline on this machine with
// the real binaries (bin/collector, bin/sidecar with bin/filter.wasm, three
// bin/sampleapp), as e2e/stack runs them:
//
//   - BenchmarkPrimaryPath: requests/s through the front listener and the
//     p50/p99 latency the client sees, with mirroring and digesting on
//     (envoy/local.yaml) and off (the same topology without the Wasm
//     filters and the mirror policies, see WithoutShadowdiff), at fixed
//     rates (open loop) and at the maximum a fixed number of clients reach
//     (closed loop).
//   - BenchmarkDigests: digests/s reaching the collector and how many were
//     lost, from the filters' counters on the sidecar's admin /stats and
//     the collector's own totals.
//   - BenchmarkVerdict: time from a request to its compared record being
//     queryable through Query.GetRequest.
//
// The benchmarks only run with -bench (TestMain builds the binaries only
// then); docs/BENCHMARKS.md has the commands and the figures. The package's
// non-test code is the load generator and the topology variant they use.
package bench
