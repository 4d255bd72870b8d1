// Package gather collects a machine's inventory.
//
// Each gatherer lives in its own file and fills one or more sections of the
// wire model: the agent builds parcv1.Inventory directly instead of keeping a
// domain model of its own, because it only ever produces reports and the
// collector converts at its edge. Gatherers are listed in an explicit
// registry map per operating system (registry_linux.go, registry_windows.go,
// …), never registered from init.
//
// Everything a gatherer reads goes through Env: files under Env.Root (so
// tests point it at a fixture tree in testdata/), commands through
// Env.Runner, and ghw/gopsutil through the Source interface, which has one
// real implementation (NewSource) and a fake in the tests.
//
// A gatherer that fails returns what it has plus an error; Run records the
// error in the report and carries on. Nothing a gatherer reads may crash the
// agent: Run also recovers panics.
package gather
