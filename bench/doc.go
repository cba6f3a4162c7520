// Package bench holds Orgbase's performance benchmarks. They serve real pages
// through web.NewServer on a seeded database and report server time and the
// number of SQL statements per request next to a baseline measured in the
// same run. See docs/BENCHMARKS.md for the command and the latest figures.
//
// The package has no non-test code beyond this comment; everything lives in
// its _test.go files so that `go test ./...` compiles it and runs its quick
// tests (the benchmarks run only with -bench).
package bench
