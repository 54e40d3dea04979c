package rollout

import "github.com/cutover-dev/cutover/state"

// Store keeps plans' states: state.Records in bbolt under `cutover serve`,
// the Cutover resource's status under the controller. A transition is persisted before
// it is acted on, so a restart resumes where the plan was.
type Store interface {
	// Load reads a plan's state into st; found is false for a new plan.
	Load(name string, st *State) (found bool, err error)
	// Transition persists a change of state with its audit event.
	Transition(name string, st *State, ev state.Event) error
	// Checkpoint persists progress that is not a transition.
	Checkpoint(name string, st *State) error
}

// BoltStore keeps plans' states in the rollouts bucket of s, each
// transition in its audit log.
func BoltStore(s *state.Store) Store {
	return state.NewRecords[State](s, state.BucketRollouts)
}
