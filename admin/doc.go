// Package admin is the gateway's admin API: status, weights, reloads, the
// audit log and metrics, behind a bearer token.
package admin
