// Package bench measures Foundry's fleet fan-out against raw NATS
// scatter-gather on the same machine in the same run, at fleet sizes up to
// 10,000 agents. Its tests are the harness; they run only with
// FOUNDRY_BENCH=1 because one run takes several minutes, both cores and
// tens of thousands of loopback connections:
//
//	FOUNDRY_BENCH=1 go test -v -run TestFanoutBenchmark -timeout 60m ./e2e/bench/
//
// Agents and raw subscribers live in child processes (at most 5,000
// connections each) because of the per-process file-descriptor limit. The
// results and the method are in BENCHMARKS.md at the repository root.
package bench
