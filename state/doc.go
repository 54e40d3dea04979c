// Package state keeps the gateway's runtime state in a bbolt file: weights
// set by an operator or a plan, and the audit log of every change. Every
// write is committed and synced before the call returns, so a change that
// was acknowledged survives a crash or restart.
package state
