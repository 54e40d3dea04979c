// Package argo holds typed structs for the parts of Argo Rollouts'
// Rollout and Argo CD's Application that the generator writes. The
// projects' own Go modules pull in their controllers' dependency trees;
// these structs follow the CRD schemas (argo-rollouts v1.9.0, argo-cd
// v3.4.0), and every generated object is validated against those schemas.
package argo
