package rollout

import (
	"encoding/json"

	"github.com/cutover-dev/cutover/state"
)

// Store keeps plans' states: bbolt under `cutover serve`, the Cutover
// resource's status under the controller. A transition is persisted before
// it is acted on, so a restart resumes where the plan was.
type Store interface {
	// Load reads a plan's state into st; found is false for a new plan.
	Load(name string, st *State) (found bool, err error)
	// Transition persists a change of state with its audit event.
	Transition(name string, st *State, ev state.Event) error
	// Checkpoint persists progress that is not a transition.
	Checkpoint(name string, st *State) error
}

// BoltStore keeps states in the rollouts bucket of a state.Store, with
// each transition in its audit log.
func BoltStore(s *state.Store) Store { return boltStore{s} }

type boltStore struct{ s *state.Store }

func (b boltStore) Load(name string, st *State) (bool, error) {
	found := false
	err := b.s.List(state.BucketRollouts, func(key string, data []byte) error {
		if key != name {
			return nil
		}
		found = true
		return json.Unmarshal(data, st)
	})
	return found, err
}

func (b boltStore) Transition(name string, st *State, ev state.Event) error {
	_, err := b.s.Put(state.BucketRollouts, name, st, ev)
	return err
}

func (b boltStore) Checkpoint(name string, st *State) error {
	return b.s.Checkpoint(state.BucketRollouts, name, st)
}
