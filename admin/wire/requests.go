package wire

import (
	"encoding/json"

	"github.com/cutover-dev/cutover/spec"
)

// CommandRequest is the body of POST /api/v1/rollouts/{name}/{command}.
type CommandRequest struct {
	// Full and Force apply to promote; ToStep to rollback.
	Full   bool   `json:"full,omitempty"`
	Force  bool   `json:"force,omitempty"`
	ToStep *int   `json:"toStep,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// WeightsRequest is the body of PUT /api/v1/routes/{route}/weights.
type WeightsRequest struct {
	Weights map[string]json.Number `json:"weights"`
	Reason  string                 `json:"reason,omitempty"`
}

// ManagedRouteRequest is the body of PUT /api/v1/routes/{route}/managed/{name}:
// a route in front of {route} that sends what matches to Backend. No match
// removes it.
type ManagedRouteRequest struct {
	Match   []spec.Match `json:"match"`
	Backend string       `json:"backend"`
	// MirrorPercent makes it a mirror route (see ManagedRoute).
	MirrorPercent int    `json:"mirrorPercent,omitempty"`
	Reason        string `json:"reason,omitempty"`
}
