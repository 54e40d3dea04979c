// Package ui is the web dashboard, embedded in the binary and served on
// the admin listener under /ui/: routes and their splits, a plan's steps,
// verdicts and live charts, mirror diffs, the audit log, and the plan
// commands. It reads and acts only through the admin API.
package ui
