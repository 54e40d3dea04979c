// Package capacity sizes a service from a load test with the formulas of
// handbook §15: the requests it reserves, the rate at which its HPA scales
// out, what it serves without scaling out, and the global rate limit that
// keeps it there.
package capacity
