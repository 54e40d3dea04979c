package wire

import (
	"time"

	"github.com/cutover-dev/cutover/accesslog"
)

// Status is what GET /api/v1/status returns.
type Status struct {
	Gateway    string          `json:"gateway"`
	Ready      bool            `json:"ready"`
	Generation uint64          `json:"generation"`
	ConfigFile string          `json:"configFile"`
	ConfigHash string          `json:"configHash"`
	LoadedAt   time.Time       `json:"loadedAt"`
	LastReload ReloadResult    `json:"lastReload"`
	Routes     []RouteStatus   `json:"routes"`
	Backends   []BackendStatus `json:"backends"`
	// AccessLog counts each sink's lines written and dropped.
	AccessLog []accesslog.Stats `json:"accessLog,omitempty"`
}

// RouteStatus is a route's split.
type RouteStatus struct {
	Name string `json:"name"`
	// Source is "config" or "runtime" (set through the API or a plan).
	Source   string         `json:"source"`
	Sticky   bool           `json:"sticky"`
	Backends []RouteBackend `json:"backends"`
}

// RouteBackend is one backend's share of a route.
type RouteBackend struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Weight is the set weight; Effective is the share after health, in
	// percent.
	Weight    int     `json:"weight"`
	Effective float64 `json:"effective"`
	Healthy   bool    `json:"healthy"`
}

// BackendStatus is a backend and its endpoints.
type BackendStatus struct {
	Name      string           `json:"name"`
	Version   string           `json:"version"`
	FailOpen  bool             `json:"failOpen"`
	Endpoints []EndpointStatus `json:"endpoints"`
}

// EndpointStatus is one endpoint's health.
type EndpointStatus struct {
	Address string `json:"address"`
	Healthy bool   `json:"healthy"`
	// ActiveCheck is the last active-check verdict; ActiveState says
	// "unknown" too, before the first check answered. Ejected is passive
	// ejection.
	ActiveCheck bool   `json:"activeCheck"`
	ActiveState string `json:"activeState"`
	Ejected     bool   `json:"ejected"`
	// SlowStart is the ramp factor in percent; 100 when fully warmed up.
	SlowStart float64 `json:"slowStart"`
}

// ReloadResult is the outcome of the last reload attempt.
type ReloadResult struct {
	Time  time.Time `json:"time"`
	Actor string    `json:"actor"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
	Hash  string    `json:"hash,omitempty"`
}
