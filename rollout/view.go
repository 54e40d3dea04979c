package rollout

import (
	"fmt"
	"strings"
	"time"

	"github.com/cutover-dev/cutover/spec"
)

// View is a plan as `status` and `get rollout` show it.
type View struct {
	Name   string `json:"name"`
	Route  string `json:"route"`
	Stable string `json:"stable"`
	Canary string `json:"canary"`
	Router string `json:"router"`
	State  State  `json:"state"`
	// PauseLeft is the time left in a timed pause, now.
	PauseLeft    time.Duration `json:"pauseLeft"`
	HeaderRoutes []string      `json:"headerRoutes"`
	MirrorRoutes []string      `json:"mirrorRoutes"`
	Steps        []StepView    `json:"steps"`
	// DecommissionFrom is when the stable side, no longer needed to take
	// the traffic back, may be turned off: a completed plan's end plus its
	// scale-down delay.
	DecommissionFrom *time.Time `json:"decommissionFrom,omitempty"`
}

// StepView is one step in the plan's picture.
type StepView struct {
	Index  int    `json:"index"`
	Text   string `json:"text"`
	Status string `json:"status"` // done, current or pending
}

// View returns the plan's picture.
func (e *Engine) View() View {
	ps := e.published.Load()
	return ViewOfPlan(ps.plan, ps.st, e.Now(), e.router.Type(), ps.plan.Route, ps.plan.Stable, ps.plan.Canary)
}

// ViewOfPlan draws a plan at a state, also for a plan whose engine runs
// elsewhere (the controller keeps the state in a Cutover's status).
func ViewOfPlan(p *Plan, st State, now time.Time, router, route, stable, canary string) View {
	v := View{
		Name: p.Name, Route: route, Stable: stable, Canary: canary,
		Router: router, State: st, PauseLeft: st.pauseLeft(now),
	}
	if st.Phase == Completed && p.ScaleDownDelay > 0 {
		at := st.Updated.Add(p.ScaleDownDelay)
		v.DecommissionFrom = &at
	}
	if !st.terminal() {
		for _, h := range p.headerRoutesAt(st.Step) {
			v.HeaderRoutes = append(v.HeaderRoutes, h.Name)
		}
		for _, m := range p.mirrorRoutesAt(st.Step) {
			v.MirrorRoutes = append(v.MirrorRoutes, m.Name)
		}
	}
	for i, s := range p.Steps {
		sv := StepView{Index: i, Text: DescribeStep(s), Status: "pending"}
		switch {
		case i < st.Step || st.Phase == Completed:
			sv.Status = "done"
		case i == st.Step:
			sv.Status = "current"
		}
		v.Steps = append(v.Steps, sv)
	}
	return v
}

// DescribeStep is a step in one line, in the plan's own words.
func DescribeStep(s spec.Step) string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("setWeight: %d", *s.SetWeight)
	case s.Pause != nil && s.Pause.Duration == nil:
		return "pause: until promoted"
	case s.Pause != nil:
		return "pause: " + s.Pause.Duration.D().String()
	case s.SetHeaderRoute != nil:
		h := s.SetHeaderRoute
		if len(h.Match) == 0 {
			return "setHeaderRoute: " + h.Name + " (remove)"
		}
		var parts []string
		for _, m := range h.Match {
			if m.HeaderName != "" {
				parts = append(parts, m.HeaderName+describeMatch(m.HeaderValue))
			} else {
				parts = append(parts, "?"+m.QueryParamName+describeMatch(m.QueryParamValue))
			}
		}
		return "setHeaderRoute: " + h.Name + " (" + strings.Join(parts, ", ") + ")"
	case s.SetMirrorRoute != nil:
		m := s.SetMirrorRoute
		if len(m.Match) == 0 {
			return "setMirrorRoute: " + m.Name + " (remove)"
		}
		pct := 100
		if m.Percentage != nil {
			pct = *m.Percentage
		}
		return fmt.Sprintf("setMirrorRoute: %s (%d%% copied to the canary)", m.Name, pct)
	case s.Analysis != nil:
		var names []string
		for _, t := range s.Analysis.Templates {
			names = append(names, t.TemplateName)
		}
		for _, m := range s.Analysis.Metrics {
			names = append(names, m.Name)
		}
		return "analysis: " + strings.Join(names, ", ")
	case s.PodsOnly:
		return "pods only: nothing to do here"
	}
	return "?"
}

func describeMatch(m *spec.StringMatch) string {
	switch {
	case m == nil:
		return ""
	case m.Exact != nil:
		return "=" + *m.Exact
	case m.Prefix != nil:
		return "^=" + *m.Prefix
	case m.Regex != nil:
		return "~" + *m.Regex
	}
	return ""
}
