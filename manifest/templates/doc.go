// Package templates turns one service's resolved config in one environment
// into Kubernetes objects: the Templates layer of the generator. Each kind
// of service (NodeBFF, Rails, StaticUploadJob, IngressGateway) is a
// Template; a team adds its own with Register.
package templates
