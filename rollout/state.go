package rollout

import (
	"fmt"
	"time"

	"github.com/cutover-dev/cutover/analysis"
)

// Phase is where a plan is.
type Phase string

const (
	// Progressing: the current step is being carried out.
	Progressing Phase = "Progressing"
	// Paused: waiting, for a duration or for a command; Reason says which.
	Paused Phase = "Paused"
	// Analyzing: a step analysis is running.
	Analyzing Phase = "Analyzing"
	// Completed: all traffic is on the canary and the plan is over.
	Completed Phase = "Completed"
	// Aborted: all traffic is back on stable; retry starts over.
	Aborted Phase = "Aborted"
	// Degraded: the traffic router failed; the step is retried.
	Degraded Phase = "Degraded"
)

// PauseKind says why a plan is paused and what ends the pause.
type PauseKind string

const (
	// PauseStep is `pause: {}`: promote ends it.
	PauseStep PauseKind = "step"
	// PauseTimed is `pause: {duration}`: it ends by itself; promote skips it.
	PauseTimed PauseKind = "timed"
	// PauseManual is the pause command: resume ends it.
	PauseManual PauseKind = "manual"
	// PauseInconclusive is an analysis that could not decide: resume runs it
	// again, promote skips it, abort rolls back.
	PauseInconclusive PauseKind = "inconclusive"
)

// State is a plan's position. It is persisted before every action, so a
// restarted gateway resumes where it was.
type State struct {
	Name  string `json:"name"`
	Phase Phase  `json:"phase"`
	// Step is the index of the current step; len(steps) once all are done.
	Step   int    `json:"step"`
	Reason string `json:"reason,omitempty"`
	// Weight is the canary weight the plan has set.
	Weight    int       `json:"weight"`
	PauseKind PauseKind `json:"pauseKind,omitempty"`
	// PauseLeft is the time left in a timed pause as of PauseCheckpoint; a
	// restart resumes it with that time left.
	PauseLeft       time.Duration `json:"pauseLeft,omitempty"`
	PauseCheckpoint time.Time     `json:"pauseCheckpoint,omitzero"`
	// Resume is the phase a manual pause or a degraded router returns to,
	// and ResumeKind the kind of pause, if it was one.
	Resume     Phase     `json:"resume,omitempty"`
	ResumeKind PauseKind `json:"resumeKind,omitempty"`

	Analysis   *analysis.Run `json:"analysis,omitempty"`
	Background *analysis.Run `json:"background,omitempty"`

	StepStarted time.Time `json:"stepStarted"`
	Updated     time.Time `json:"updated"`
	// History records when each step was reached, for the summary.
	History []StepTime `json:"history,omitempty"`
}

// StepTime is when a step began.
type StepTime struct {
	Step int       `json:"step"`
	At   time.Time `json:"at"`
}

// pauseLeft is the time left in a timed pause at now.
func (s *State) pauseLeft(now time.Time) time.Duration {
	if s.Phase != Paused || s.PauseKind != PauseTimed {
		return s.PauseLeft
	}
	return max(0, s.PauseLeft-now.Sub(s.PauseCheckpoint))
}

// terminal: the plan is over, or on its way back to stable.
func (s *State) terminal() bool {
	return s.Phase == Completed || s.Phase == Aborted || s.Phase == Degraded && s.Resume == Aborted
}

// summary is a one-line description for events.
func (s *State) summary() string {
	out := fmt.Sprintf("%s step %d weight %d", s.Phase, s.Step, s.Weight)
	if s.Reason != "" {
		out += ": " + s.Reason
	}
	return out
}

// CommandError is a command refused in the current state. Nothing changed.
type CommandError struct {
	Command string
	Phase   Phase
	Msg     string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("%s refused in phase %s: %s", e.Command, e.Phase, e.Msg)
}
