// Package mirror is a route's shadow traffic: which requests are copied
// and where, the copies sent with their own timeout and concurrency cap,
// and the comparison of the shadow's answers with the primary's, which are
// counted and kept, never returned.
package mirror
