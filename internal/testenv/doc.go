// Package testenv finds and starts the real servers that tests talk to:
// Prometheus from Debian's package, for one. .ci/run installs them and sets
// CUTOVER_CI=1, under which a missing server fails the test instead of
// skipping it.
package testenv
