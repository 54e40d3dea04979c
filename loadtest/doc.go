// Package loadtest drives load at a target with vegeta's attacker: a
// constant or ramping rate, the search for the highest rate that holds an
// SLO (the "Pod Performance Limit" of handbook §15.2), and the report and
// files vegeta's own tools read.
package loadtest
