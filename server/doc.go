// Package server wires one `cutover serve` process together: the gateway,
// the plans that drive it, and the admin API over both.
package server
