// Package spec is the declarative model of cutover.yaml: typed documents,
// their defaults and their validation. It does no network I/O.
package spec
