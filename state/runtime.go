package state

import (
	"encoding/json"
	"fmt"
)

// Runtime is the gateway's runtime state in the store: the weights set by
// an operator or a plan, the routes plans put in front of config routes
// (of type M, a list of them per route), and the audit log of both. Each
// change is written with its event in one synced transaction.
type Runtime[M any] struct {
	*Store
}

// NewRuntime returns s's runtime state.
func NewRuntime[M any](s *Store) Runtime[M] { return Runtime[M]{Store: s} }

// ManagedRoutes returns every route's managed routes.
func (r Runtime[M]) ManagedRoutes() (map[string][]M, error) {
	out := map[string][]M{}
	err := r.List(BucketManagedRoutes, func(key string, data []byte) error {
		var list []M
		if err := json.Unmarshal(data, &list); err != nil {
			return fmt.Errorf("managed routes of %s: %w", key, err)
		}
		out[key] = list
		return nil
	})
	return out, err
}

// SetManagedRoutes stores a route's managed routes with ev; an empty list
// removes them.
func (r Runtime[M]) SetManagedRoutes(route string, list []M, ev Event) (Event, error) {
	if len(list) == 0 {
		return r.Put(BucketManagedRoutes, route, nil, ev)
	}
	return r.Put(BucketManagedRoutes, route, list, ev)
}
