// Package istio is the traffic.Router for Istio: it sets weights on the
// named HTTP routes of a VirtualService, adds and removes header and mirror
// routes, and verifies weights by reading them back. It patches only what
// the plan manages; other routes of the same VirtualService are left
// byte-for-byte as they were.
package istio
