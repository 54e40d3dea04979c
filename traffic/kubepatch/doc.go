// Package kubepatch builds the JSON patches the Kubernetes traffic routers
// send. A patch touches only the fields a plan manages, each guarded by a
// test of the route's name at that index, so a concurrent edit of the same
// object fails the patch instead of being overwritten, and routes the plan
// does not manage are never rewritten.
package kubepatch
