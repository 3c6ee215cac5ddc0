// Package loadtest holds benchmarks that drive whole pages of a running Shepherd against
// a realistically filled database (`make bench`).
package loadtest
